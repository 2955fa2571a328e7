package fakeaws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// agentGet asks the Pod Identity endpoint for credentials with a valid token, over plain HTTP.
func agentGet(t *testing.T, srv *Server, ti *TokenIssuer) (*http.Response, error) {
	t.Helper()
	tok, err := ti.ServiceAccountToken("default", "my-app", PodIdentityAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, srv.PodIdentityURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", tok)
	return (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
}

// TestResponseFaults spoils the agent's answer in each way and reads what a client gets.
func TestResponseFaults(t *testing.T) {
	ti, err := NewTokenIssuerES256(testIss)
	if err != nil {
		t.Fatal(err)
	}
	srv := startFake(t, podIdentityState(t, ti))
	resp, err := agentGet(t, srv, ti)
	if err != nil {
		t.Fatal(err)
	}
	good, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !json.Valid(good) {
		t.Fatalf("unspoiled answer: %d %q %v", resp.StatusCode, good, err)
	}

	cases := []struct {
		kind  string
		check func(status int, ctype string, body []byte, readErr error) bool
	}{
		{ResponseBadJSON, func(s int, ct string, b []byte, e error) bool {
			return s == 200 && ct == "application/json" && e == nil && !json.Valid(b) && len(b) > 0
		}},
		{ResponseTruncated, func(s int, _ string, b []byte, e error) bool {
			return s == 200 && errors.Is(e, io.ErrUnexpectedEOF) && len(b) < len(good)
		}},
		{ResponseEmpty, func(s int, ct string, b []byte, e error) bool {
			return s == 200 && ct == "application/json" && e == nil && len(b) == 0
		}},
		{ResponseHTML, func(s int, ct string, b []byte, e error) bool {
			return s == 200 && strings.HasPrefix(ct, "text/html") && e == nil && bytes.Contains(b, []byte("<html>"))
		}},
		{ResponseContentType, func(s int, ct string, b []byte, e error) bool {
			return s == 200 && strings.HasPrefix(ct, "text/plain") && e == nil && json.Valid(b)
		}},
		{ResponseTrickle, func(s int, ct string, b []byte, e error) bool {
			return s == 200 && ct == "application/json" && e == nil && json.Valid(b) && len(b) > 100
		}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			srv.SetFault(Fault{API: podIdentityAPI, Response: tc.kind, TrickleMS: 1, Count: 1})
			resp, err := agentGet(t, srv, ti)
			if err != nil {
				t.Fatal(err)
			}
			b, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if !tc.check(resp.StatusCode, resp.Header.Get("Content-Type"), b, rerr) {
				t.Fatalf("%s: status %d, type %q, %d bytes %q, read error %v", tc.kind, resp.StatusCode, resp.Header.Get("Content-Type"), len(b), b, rerr)
			}
			if len(srv.Faults()) != 0 {
				t.Fatal("counted fault not used up")
			}
		})
	}

	// Endless: a body of exactly EndlessBytes that opens a JSON string and never closes it.
	srv.SetFault(Fault{API: podIdentityAPI, Response: ResponseEndless, EndlessBytes: 8 << 20, Count: 1})
	resp, err = agentGet(t, srv, ti)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 17)
	if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != `{"SecretString":"` {
		t.Fatalf("endless body starts %q (%v)", head, err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil || n+17 != 8<<20 {
		t.Fatalf("endless body %d bytes (%v), want %d", n+17, err, 8<<20)
	}

	// An unknown kind is refused by the admin API.
	if code, body := adminDo(t, srv, "POST", "/_fake/faults", Fault{Response: "sometimes"}); code != http.StatusBadRequest || !strings.Contains(string(body), "sometimes") {
		t.Fatalf("admin accepted an unknown response kind: %d %s", code, body)
	}
}

// TestConnectionFaults drops and hangs calls: the client gets no answer, the calls are counted.
func TestConnectionFaults(t *testing.T) {
	ti, err := NewTokenIssuerES256(testIss)
	if err != nil {
		t.Fatal(err)
	}
	srv := startFake(t, podIdentityState(t, ti))

	// Drop for the first two calls, then serve: a fresh node's agent.
	srv.SetFault(Fault{API: podIdentityAPI, Drop: true, Count: 2})
	for i := range 2 {
		if resp, err := agentGet(t, srv, ti); err == nil {
			_ = resp.Body.Close()
			t.Fatalf("call %d answered %d while the agent is down", i, resp.StatusCode)
		}
	}
	resp, err := agentGet(t, srv, ti)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the drops: %v", err)
	}
	_ = resp.Body.Close()
	if c := srv.Calls(); c.ByCode[CodeDropped] != 2 || c.Count(podIdentityAPI, "") != 3 {
		t.Fatalf("calls %+v", c.Calls)
	}

	// Hang, bounded by HangMS: the client (which would wait 20 s) gets the connection closed.
	srv.SetFault(Fault{API: podIdentityAPI, Hang: true, HangMS: 50, Count: 1})
	if resp, err := agentGet(t, srv, ti); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("hung call answered %d", resp.StatusCode)
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang not bounded by HangMS: %v", err)
	}

	// Hang until the client gives up: the client's own deadline ends it.
	srv.SetFault(Fault{API: podIdentityAPI, Hang: true, Count: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tok, _ := ti.ServiceAccountToken("default", "my-app", PodIdentityAudience, time.Hour)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.PodIdentityURL(), nil)
	req.Header.Set("Authorization", tok)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v, want the client's deadline", err)
	}
	if c := srv.Calls(); c.ByCode[CodeHung] != 2 {
		t.Fatalf("hung calls %d, want 2", c.ByCode[CodeHung])
	}
}

// TestResponseFaultsThroughTheSDK shows what the SDK makes of a spoiled awsJson answer: a
// deserialization error, not an AWS error.
func TestResponseFaultsThroughTheSDK(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"), func(o *secretsmanager.Options) {
		o.RetryMaxAttempts = 1
	})
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}
	for _, kind := range []string{ResponseBadJSON, ResponseTruncated, ResponseHTML} {
		srv.SetFault(Fault{API: "secretsmanager:GetSecretValue", Response: kind, Count: 1})
		_, err := sm.GetSecretValue(ctxT(t), in)
		var de *smithy.DeserializationError
		if !errors.As(err, &de) {
			t.Errorf("%s: %T %v, want a deserialization error", kind, err, err)
		}
	}
	// An empty 200 decodes to an empty output: only the caller can tell it is wrong.
	srv.SetFault(Fault{API: "secretsmanager:GetSecretValue", Response: ResponseEmpty, Count: 1})
	out, err := sm.GetSecretValue(ctxT(t), in)
	if err != nil || out.SecretString != nil || out.SecretBinary != nil {
		t.Fatalf("empty answer: %+v %v", out, err)
	}
	if c := srv.Calls(); c.Total != 4 || c.Errors != 0 {
		t.Fatalf("calls %+v (spoiled answers count as successful calls)", c.Calls)
	}
}
