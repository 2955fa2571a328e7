package fakeaws

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Connection and response faults: what a broken network, a proxy or a half-started agent does to
// an answer. The error faults are in admin.go.

// Codes a call is counted with when a connection fault ended it.
const (
	CodeDropped = "Dropped"
	CodeHung    = "Hung"
)

// effect is what the faults matching one call do to it.
type effect struct {
	latency  time.Duration
	err      *apiError
	drop     bool
	hang     time.Duration
	response string
	trickle  time.Duration
	endless  int64
}

// add takes the effects of f that no earlier fault set.
func (fx *effect) add(f Fault) {
	if f.Drop && fx.hang == 0 {
		fx.drop = true
	}
	if f.Hang && !fx.drop && fx.hang == 0 {
		fx.hang = time.Duration(f.HangMS) * time.Millisecond
		if fx.hang <= 0 {
			fx.hang = DefaultHangMS * time.Millisecond
		}
	}
	if f.Response != "" && fx.response == "" {
		fx.response = f.Response
		fx.trickle = time.Duration(f.TrickleMS) * time.Millisecond
		if fx.trickle <= 0 {
			fx.trickle = 100 * time.Millisecond
		}
		fx.endless = f.EndlessBytes
		if fx.endless <= 0 {
			fx.endless = DefaultEndlessBytes
		}
	}
}

// stallCode is the code a dropped or hung call is counted with, "" when the call goes on.
func (fx *effect) stallCode() string {
	switch {
	case fx.drop:
		return CodeDropped
	case fx.hang > 0:
		return CodeHung
	}
	return ""
}

// stall drops or hangs the connection (after the call was counted); it returns only when the
// call goes on. Aborting the handler with http.ErrAbortHandler closes the connection without
// an answer and without a log line.
func (fx *effect) stall(r *http.Request) {
	switch {
	case fx.drop:
		panic(http.ErrAbortHandler)
	case fx.hang > 0:
		sleepCtx(r.Context(), fx.hang)
		panic(http.ErrAbortHandler)
	}
}

// stalled counts a call ended by a connection fault and ends it; it returns when there is none.
func (s *Server) stalled(r *http.Request, fx *effect, api, principalKey, region string, start time.Time) {
	code := fx.stallCode()
	if code == "" {
		return
	}
	aerr := &apiError{Code: code, Message: "connection fault injected by fakeaws"}
	s.record(api, principalKey, region, aerr)
	s.logCall(api, principalKey, region, aerr, time.Since(start))
	fx.stall(r)
}

// deliver writes a successful answer, spoiled as fx says.
func deliver(w http.ResponseWriter, r *http.Request, fx *effect, status int, contentType string, body []byte) {
	switch fx.response {
	case ResponseBadJSON:
		body = append(body[:len(body)/2:len(body)/2], "\x00<<}{ not the protocol's encoding"...)
	case ResponseEmpty:
		body = nil
	case ResponseHTML:
		contentType = "text/html; charset=utf-8"
		body = []byte("<!DOCTYPE html>\n<html><head><title>Gateway</title></head><body><h1>Please sign in to the network</h1></body></html>\n")
	case ResponseContentType:
		contentType = "text/plain; charset=utf-8"
	case ResponseTruncated:
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body[:len(body)/2])
		flush(w)
		panic(http.ErrAbortHandler)
	case ResponseEndless:
		writeEndless(r.Context(), w, contentType, fx.endless)
		return
	case ResponseTrickle:
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		for i := range body {
			if r.Context().Err() != nil {
				return
			}
			if _, err := w.Write(body[i : i+1]); err != nil {
				return
			}
			flush(w)
			sleepCtx(r.Context(), fx.trickle)
		}
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeEndless sends a 200 whose body opens a string (JSON or XML, after contentType) and fills
// it for n bytes in all, made chunk by chunk; it stops early when the client goes away.
func writeEndless(ctx context.Context, w http.ResponseWriter, contentType string, n int64) {
	prefix := `{"SecretString":"`
	if strings.Contains(contentType, "xml") {
		prefix = "<Response><Value>"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(prefix)); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("A"), 32<<10)
	for sent := int64(len(prefix)); sent < n; {
		if ctx.Err() != nil {
			return
		}
		k := min(int64(len(chunk)), n-sent)
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		sent += k
	}
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
