package spc

import (
	"strings"
	"testing"
	"time"
)

func TestAssumeRole(t *testing.T) {
	const obj = "- {objectName: a, objectType: secretsmanager}"
	s, err := Parse(objs(obj, ParamAssumeRoleARN, "arn:aws:iam::111122223333:role/team/reader",
		ParamAssumeRoleExternalID, "tenant-42@example.com", ParamAssumeRoleDurationSeconds, "3600"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := s.AssumeRole; a == nil || a.ARN != "arn:aws:iam::111122223333:role/team/reader" || a.ExternalID != "tenant-42@example.com" || a.Duration != time.Hour {
		t.Errorf("AssumeRole = %+v", s.AssumeRole)
	}
	for _, arn := range []string{"arn:aws-cn:iam::111122223333:role/r", "arn:aws-us-gov:iam::111122223333:role/a/b/c/r_1+=,.@-"} {
		if s, err := Parse(objs(obj, ParamAssumeRoleARN, arn), Options{}); err != nil || s.AssumeRole == nil || s.AssumeRole.Duration != 0 {
			t.Errorf("%s: %v %+v", arn, err, s)
		}
	}
	if s, _ := Parse(objs(obj), Options{}); s.AssumeRole != nil {
		t.Errorf("AssumeRole without parameters = %+v", s.AssumeRole)
	}

	const arn = "arn:aws:iam::111122223333:role/reader"
	secretID := "sekrit" + strings.Repeat("!", 3)
	for _, tc := range []struct {
		name  string
		kv    []string
		field string
		msg   string
	}{
		{"user ARN", []string{ParamAssumeRoleARN, "arn:aws:iam::111122223333:user/bob"}, ParamAssumeRoleARN, "not an IAM role ARN"},
		{"short account", []string{ParamAssumeRoleARN, "arn:aws:iam::1111:role/r"}, ParamAssumeRoleARN, "not an IAM role ARN"},
		{"region in ARN", []string{ParamAssumeRoleARN, "arn:aws:iam:us-east-1:111122223333:role/r"}, ParamAssumeRoleARN, "not an IAM role ARN"},
		{"sts ARN", []string{ParamAssumeRoleARN, "arn:aws:sts::111122223333:assumed-role/r/s"}, ParamAssumeRoleARN, "not an IAM role ARN"},
		{"name too long", []string{ParamAssumeRoleARN, "arn:aws:iam::111122223333:role/" + strings.Repeat("r", 65)}, ParamAssumeRoleARN, "not an IAM role ARN"},
		{"bad external id", []string{ParamAssumeRoleARN, arn, ParamAssumeRoleExternalID, secretID}, ParamAssumeRoleExternalID, "character"},
		{"long external id", []string{ParamAssumeRoleARN, arn, ParamAssumeRoleExternalID, strings.Repeat("e", MaxExternalIDLen+1)}, ParamAssumeRoleExternalID, "1225 characters"},
		{"short duration", []string{ParamAssumeRoleARN, arn, ParamAssumeRoleDurationSeconds, "899"}, ParamAssumeRoleDurationSeconds, "out of range"},
		{"long duration", []string{ParamAssumeRoleARN, arn, ParamAssumeRoleDurationSeconds, "3601"}, ParamAssumeRoleDurationSeconds, "out of range"},
		{"huge duration", []string{ParamAssumeRoleARN, arn, ParamAssumeRoleDurationSeconds, "9223372036854775807"}, ParamAssumeRoleDurationSeconds, "out of range"},
		{"duration not a number", []string{ParamAssumeRoleARN, arn, ParamAssumeRoleDurationSeconds, "1h"}, ParamAssumeRoleDurationSeconds, "not a number"},
		{"external id alone", []string{ParamAssumeRoleExternalID, "x"}, ParamAssumeRoleExternalID, "only used with assumeRoleArn"},
		{"duration alone", []string{ParamAssumeRoleDurationSeconds, "900"}, ParamAssumeRoleDurationSeconds, "only used with assumeRoleArn"},
	} {
		r := Check(objs(obj, tc.kv...), Options{})
		var found bool
		for _, e := range r.Errors {
			if e.Field == "parameters."+tc.field && strings.Contains(e.Problem, tc.msg) && e.Fix != "" {
				found = true
			}
			if strings.Contains(e.Error(), secretID) {
				t.Errorf("%s: the external ID is printed: %v", tc.name, e)
			}
		}
		if r.Spec != nil || !found {
			t.Errorf("%s: no error on parameters.%s with %q: %v", tc.name, tc.field, tc.msg, r.Errors)
		}
	}
}
