package outputs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreLinksNoCloudSDK: a host's unit test of the root package (with memstore and the
// deliverytest fakes) must not link a storage SDK. The root, destination, delivery and
// delivery/deliverytest packages depend on none of the AWS, Azure, Google Cloud, gRPC or Go CDK
// modules (the provider packages do).
func TestCoreLinksNoCloudSDK(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".", "./destination", "./delivery", "./delivery/deliverytest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/aws/", "github.com/Azure/", "cloud.google.com/", "google.golang.org/grpc",
		"google.golang.org/api", "gocloud.dev", "github.com/ilovevideoeditor/outputs/provider"}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("the core depends on %s", d)
			}
		}
	}
	t.Logf("go list -deps . ./destination ./delivery ./delivery/deliverytest: %d packages", len(deps))
}
