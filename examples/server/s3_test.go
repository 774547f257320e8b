package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ilovevideoeditor/outputs/internal/emulator"
)

func s3Body(name string, srv emulator.S3Server, bucket, secretKey string, isDefault bool) string {
	b, _ := json.Marshal(map[string]any{"provider": "s3", "name": name, "isDefault": isDefault, "config": map[string]string{
		"endpoint": srv.Endpoint, "region": srv.Region, "bucket": bucket, "accessKeyId": srv.AccessKey,
		"secretAccessKey": secretKey, "pathPrefix": "renders/"}})
	return string(b)
}

// TestS3Journey is the documentation's journey against versitygw, with curl: create, test, make
// default, render with destinations, status with outputs; a failing destination fails alone, is
// fixed with a merge patch and redelivered.
func TestS3Journey(t *testing.T) { s3Journey(t, config{AllowLocal: true}) }

// s3Journey runs the journey on a server started with c and returns it with the render that
// was redelivered.
func s3Journey(t *testing.T, c config) (*testServer, string) {
	srv := emulator.NeedS3(t)
	good, other := srv.Bucket(t), srv.Bucket(t)
	ts := start(t, c)
	const tok = "dev-ws1"

	id := ts.do(req{method: "POST", path: "/v1/integrations", token: tok, body: s3Body("Good", srv, good.Bucket, srv.SecretKey, false)}, 201, "").JSON()["id"].(string)
	test := ts.do(req{method: "POST", path: "/v1/integrations/" + id + "/test", token: tok}, 200, "").JSON()
	checkFields(t, "test", test, map[string]any{"ok": true, "code": "ok"})
	checkFields(t, "set default", ts.do(req{method: "PATCH", path: "/v1/integrations/" + id, token: tok, body: `{"isDefault":true}`}, 200, "").JSON(),
		map[string]any{"isDefault": true})
	checkFields(t, "legacy test", ts.do(req{method: "POST", path: "/v1/destination/test", token: tok}, 200, "").JSON(), map[string]any{"ok": true})

	bad := ts.do(req{method: "POST", path: "/v1/integrations", token: tok, body: s3Body("Wrong secret", srv, other.Bucket, "not-the-secret-key-0000", false)}, 201, "").JSON()["id"].(string)
	checkFields(t, "failing test", ts.do(req{method: "POST", path: "/v1/integrations/" + bad + "/test", token: tok}, 200, "").JSON(),
		map[string]any{"ok": false, "code": "invalid_credentials"})

	body := `{"name":"Product Promo","layers":[],"destinations":[` +
		`{"integrationId":"` + id + `","provider":"s3","pathPrefix":"campaigns/summer-2026/"},` +
		`{"integrationId":"` + bad + `","provider":"s3"}]}`
	rid := ts.do(req{method: "POST", path: "/v1/renders", token: tok, body: body}, 201, "").JSON()["id"].(string)
	st := ts.waitRender(tok, rid).JSON()
	outs := st["outputs"].([]any)
	checkFields(t, "render", st, map[string]any{"status": "completed", "url": ts.URL + "/cdn/renders/" + rid + "/render.mp4"})
	size := float64(len(ts.s.sample))
	checkFields(t, "output 0", outs[0].(map[string]any), map[string]any{"provider": "s3", "integrationId": id,
		"outputKey": "renders/campaigns/summer-2026/render.mp4", "outputSizeBytes": size, "status": "completed"})
	failedKey := "renders/render.mp4" // the key it tried: in process, and in the durable record
	checkFields(t, "output 1", outs[1].(map[string]any), map[string]any{"integrationId": bad, "outputKey": failedKey, "status": "failed", "errorCode": "invalid_credentials"})
	head, err := srv.Client(nil).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(good.Bucket), Key: aws.String("renders/campaigns/summer-2026/render.mp4")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(size) {
		t.Fatalf("object on versitygw: %v", err)
	}

	// Omitted destinations: the default.
	rid2 := ts.do(req{method: "POST", path: "/v1/renders", token: tok, body: `{"name":"Default"}`}, 201, "").JSON()["id"].(string)
	outs2 := ts.waitRender(tok, rid2).JSON()["outputs"].([]any)
	if len(outs2) != 1 || outs2[0].(map[string]any)["integrationId"] != id || outs2[0].(map[string]any)["status"] != "completed" {
		t.Errorf("render to the default: %v", outs2)
	}

	// Fix the secret with a merge patch, redeliver: only the failed output runs again.
	ts.do(req{method: "PATCH", path: "/v1/integrations/" + bad, token: tok, body: `{"config":{"secretAccessKey":"` + srv.SecretKey + `"}}`}, 200, "")
	re := ts.do(req{method: "POST", path: "/v1/renders/" + rid + "/redeliver", token: tok}, 202, "").JSON()
	// pending again, or already uploading when a queue's worker picked the job up at once
	if o := re["outputs"].([]any); o[0].(map[string]any)["status"] != "completed" ||
		(o[1].(map[string]any)["status"] != "pending" && o[1].(map[string]any)["status"] != "uploading") {
		t.Errorf("redeliver answer: %v", o)
	}
	st = ts.waitRender(tok, rid).JSON()
	for i, o := range st["outputs"].([]any) {
		if o.(map[string]any)["status"] != "completed" {
			t.Errorf("after redelivery, output %d: %v\n%s", i, o, ts.logs.String())
		}
	}
	ts.do(req{method: "POST", path: "/v1/renders/" + rid + "/redeliver", token: tok}, 200, "")
	return ts, rid
}
