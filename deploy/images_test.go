package deploy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// patched is the oldest release of each third-party image that the
// deployment may run: the patched releases current when the images were
// last pinned (NATS 2.15.3; Redis 8.10.2, the September 2026 security
// release). Raise a floor when a security release comes out; the test
// then names every file that still runs an older one.
var patched = map[string]string{
	"nats":  "2.15.3",
	"redis": "8.10.2",
}

// pinned is an image reference with an exact release (and optionally a
// digest): repository:MAJOR.MINOR.PATCH[-variant][@sha256:…]. A tag like
// 7.4-alpine or latest moves under a running deployment.
var pinned = regexp.MustCompile(`^([a-z0-9./-]+):v?(\d+)\.(\d+)\.(\d+)(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$`)

// imageRef is one use of a third-party image.
type imageRef struct{ where, ref string }

// thirdPartyImages lists every image compose and the Kubernetes base run
// except the landscape image, which the build and kustomize tag.
func thirdPartyImages(t *testing.T) []imageRef {
	t.Helper()
	var out []imageRef
	for name, s := range loadCompose(t).Services {
		if s.Image == "" || s.Build != nil {
			continue
		}
		out = append(out, imageRef{"docker-compose.yml service " + name, s.Image})
	}
	for _, w := range (cluster{objs: manifests(t)}).ofKind("Deployment", "StatefulSet", "Job", "DaemonSet") {
		for _, ct := range w.Spec.Template.Spec.Containers {
			if ct.Image == "landscape" {
				continue
			}
			out = append(out, imageRef{fmt.Sprintf("%s %s container %s", w.Kind, w.Metadata.Name, ct.Name), ct.Image})
		}
	}
	if len(out) == 0 {
		t.Fatal("no third-party images found")
	}
	return out
}

// release parses the numbers of a release.
func release(s string) [3]int {
	var r [3]int
	for i, p := range strings.SplitN(s, ".", 3) {
		r[i], _ = strconv.Atoi(p)
	}
	return r
}

func olderThan(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// TestImagesPinned: every third-party image is pinned to an exact
// release, NATS and Redis at least to the patched releases above, and
// compose and Kubernetes run the same release of each.
func TestImagesPinned(t *testing.T) {
	t.Parallel()
	seen := map[string]imageRef{}
	for _, img := range thirdPartyImages(t) {
		m := pinned.FindStringSubmatch(img.ref)
		if m == nil {
			t.Errorf("%s: image %q is not pinned to an exact release (repository:X.Y.Z[-variant][@sha256:digest])", img.where, img.ref)
			continue
		}
		repo, version := m[1], m[2]+"."+m[3]+"."+m[4]
		if floor, ok := patched[repo]; ok && olderThan(release(version), release(floor)) {
			t.Errorf("%s: %s %s is older than the patched release %s", img.where, repo, version, floor)
		}
		if prev, ok := seen[repo]; ok && prev.ref != img.ref {
			t.Errorf("%s runs %s but %s runs %s: pin one release everywhere", img.where, img.ref, prev.where, prev.ref)
		}
		seen[repo] = img
	}
	for repo := range patched {
		if _, ok := seen[repo]; !ok {
			t.Errorf("no %s image found: is the floor in patched still needed?", repo)
		}
	}
}

func TestPinnedPattern(t *testing.T) {
	t.Parallel()
	digest := "@sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string]bool{
		"nats:2.15.3-alpine":           true,
		"redis:8.10.2-alpine" + digest: true,
		"prom/prometheus:v3.5.0":       true,
		"redis:7.4-alpine":             false,
		"nats:latest":                  false,
		"nats":                         false,
		"redis:8.10.2-alpine@sha256:":  false,
	} {
		if got := pinned.MatchString(ref); got != want {
			t.Errorf("pinned(%q) = %v, want %v", ref, got, want)
		}
	}
	if !olderThan(release("2.10.29"), release("2.15.3")) || olderThan(release("8.10.2"), release("8.10.2")) || olderThan(release("8.11.0"), release("8.10.2")) {
		t.Error("olderThan compares releases wrongly")
	}
}
