package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func servedSerial(t *testing.T, m *SelfManaged) string {
	t.Helper()
	c, err := m.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

func TestSelfManagedWithFakeClient(t *testing.T) {
	ctx := context.Background()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "inj"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "a.example.com"}, {Name: "b.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte("stale")}},
		},
	}
	cs := fake.NewClientset(mwc)
	cfg := SelfManagedConfig{Client: cs, Namespace: "sys", SecretName: "tls", WebhookConfigName: "inj", Policy: testPolicy}
	a, b := NewSelfManaged(cfg), NewSelfManaged(cfg)
	if a.Ready() == nil {
		t.Fatal("ready before any certificate")
	}

	var wg sync.WaitGroup
	for _, m := range []*SelfManaged{a, b} {
		wg.Go(func() {
			if err := m.Sync(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if a.Ready() != nil || b.Ready() != nil {
		t.Fatal("not ready after Sync")
	}
	if servedSerial(t, a) != servedSerial(t, b) {
		t.Fatal("the two instances serve different certificates")
	}
	sec, err := cs.CoreV1().Secrets("sys").Get(ctx, "tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "inj", metav1.GetOptions{})
	for _, wh := range got.Webhooks {
		if !bytes.Equal(wh.ClientConfig.CABundle, sec.Data[KeyCABundle]) {
			t.Fatalf("webhook %s caBundle not patched", wh.Name)
		}
	}

	// Someone resets the bundle: the next check re-patches it.
	got.Webhooks[0].ClientConfig.CABundle = nil
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "inj", metav1.GetOptions{})
	if !bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, sec.Data[KeyCABundle]) {
		t.Fatal("reset caBundle not re-patched")
	}

	// A forced renewal on one instance reaches the other at its next check.
	before := servedSerial(t, b)
	if err := a.RenewServing(ctx); err != nil {
		t.Fatal(err)
	}
	if servedSerial(t, a) == before {
		t.Fatal("forced renewal did not change the served certificate")
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if servedSerial(t, b) != servedSerial(t, a) {
		t.Fatal("other instance did not pick up the renewal")
	}
}

func TestSelfManagedStartRetriesUntilContextEnds(t *testing.T) {
	cs := fake.NewClientset()
	m := NewSelfManaged(SelfManagedConfig{Client: cs, Namespace: "sys", SecretName: "tls",
		Policy: Policy{CAValidity: time.Hour, ServingValidity: time.Minute}}) // no hosts: cannot issue
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := m.Start(ctx); err == nil {
		t.Fatal("Start returned nil though no certificate could be issued")
	}
}

func TestSelfManagedRecreatedSecretKeepsTrust(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "inj"}, Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "a.example.com"}}})
	cfg := SelfManagedConfig{Client: cs, Namespace: "sys", SecretName: "tls", WebhookConfigName: "inj", Policy: testPolicy}
	a := NewSelfManaged(cfg)
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := a.GetCertificate(nil)
	if err := cs.CoreV1().Secrets("sys").Delete(ctx, "tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	b := NewSelfManaged(cfg)
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mwc, _ := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "inj", metav1.GetOptions{})
	bundle, _ := ParseCertificates(mwc.Webhooks[0].ClientConfig.CABundle)
	leaf, _ := x509.ParseCertificate(old.Certificate[0])
	if !verifies(t, leaf, bundle, time.Now()) {
		t.Fatal("the certificate served before the Secret was recreated is no longer trusted")
	}
	nc, _ := b.GetCertificate(nil)
	newLeaf, _ := x509.ParseCertificate(nc.Certificate[0])
	if !verifies(t, newLeaf, bundle, time.Now()) || len(bundle) != 2 {
		t.Fatalf("new certificate not trusted, or bundle of %d", len(bundle))
	}
}
