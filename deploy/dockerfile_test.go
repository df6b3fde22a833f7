package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// TestDockerfile checks the image recipe against the repository: every
// module the binary replaces is copied in, the build is static, the final
// stage is non-root and runs landscape, and it ships that one binary (which
// is also the health check the compose file calls: landscape healthcheck).
func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	var stages []string // the text of each stage
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(line)), "FROM ") {
			stages = append(stages, "")
		}
		if len(stages) > 0 {
			stages[len(stages)-1] += line + "\n"
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a multi-stage build, got %d stage(s)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !regexp.MustCompile(`(?m)^FROM golang:1\.26\S* AS build`).MatchString(build) {
		t.Error("Dockerfile: the first stage should be FROM golang:1.26 AS build")
	}
	if !strings.Contains(build, "CGO_ENABLED=0") {
		t.Error("Dockerfile: the build must set CGO_ENABLED=0 (static binary)")
	}
	if !strings.Contains(build, "./cmd/landscape") {
		t.Error("Dockerfile: the build does not build ./cmd/landscape")
	}
	if !regexp.MustCompile(`(?m)^FROM (gcr\.io/distroless/static\S*|scratch)\s*$`).MatchString(final) {
		t.Error("Dockerfile: the final stage should be distroless/static or scratch")
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(final)
	if user == nil || user[1] == "root" || strings.HasPrefix(user[1], "0") {
		t.Errorf("Dockerfile: the final stage needs a non-root USER, got %v", user)
	}
	if !strings.Contains(final, `ENTRYPOINT ["/usr/local/bin/landscape"]`) {
		t.Error(`Dockerfile: want ENTRYPOINT ["/usr/local/bin/landscape"]`)
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build /out/landscape /usr/local/bin/\s*$`).MatchString(final) {
		t.Error("Dockerfile: the final stage should copy exactly /out/landscape to /usr/local/bin/ (it is also the health check)")
	}
	if strings.Contains(df, "healthcheck/") || strings.Contains(df, "landscape-healthcheck") {
		t.Error("Dockerfile: the separate landscape-healthcheck binary is gone; compose runs `landscape healthcheck`")
	}

	// Every local module services/landscape replaces must be in the image
	// (go.mod first for the download layer, then its sources).
	gomod := filepath.Join(repo, "services", "landscape", "go.mod")
	mraw, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse(gomod, mraw, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{"services/landscape"}
	for _, r := range mf.Replace {
		if strings.HasPrefix(r.New.Path, ".") {
			dirs = append(dirs, filepath.ToSlash(filepath.Join("services/landscape", r.New.Path)))
		}
	}
	for _, d := range dirs {
		// A module without dependencies (the console's) has no go.sum.
		want := "COPY " + d + "/go.mod " + d + "/go.sum " + d + "/"
		if _, err := os.Stat(filepath.Join(repo, d, "go.sum")); os.IsNotExist(err) {
			want = "COPY " + d + "/go.mod " + d + "/"
		}
		if !strings.Contains(build, want) {
			t.Errorf("Dockerfile: %s is missing", want)
		}
		top := strings.SplitN(d, "/", 2)[0] + "/"
		if !strings.Contains(build, "COPY "+top+" "+top) {
			t.Errorf("Dockerfile: the sources of %s (COPY %s %s) are missing", d, top, top)
		}
	}
	// Every COPY source from the build context exists.
	for _, m := range regexp.MustCompile(`(?m)^COPY (?:--\S+ )*(.+) \S+$`).FindAllStringSubmatch(df, -1) {
		if strings.Contains(m[0], "--from=") {
			continue
		}
		for _, src := range strings.Fields(m[1]) {
			if _, err := os.Stat(filepath.Join(repo, src)); err != nil {
				t.Errorf("Dockerfile: COPY source %s: %v", src, err)
			}
		}
	}
	// .dockerignore must not hide what the build copies.
	ign, err := os.ReadFile(filepath.Join(repo, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ign), "\n") {
		line = strings.TrimSpace(line)
		for _, d := range append(dirs, "deploy") {
			if line == d || line == d+"/" {
				t.Errorf(".dockerignore excludes %s, which the image builds from", d)
			}
		}
	}
}
