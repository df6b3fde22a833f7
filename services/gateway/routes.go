package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
)

// routeTemplates are the path templates of every REST route, from the
// served OpenAPI document: generated from the HTTP rules (one source: the
// proto), plus the routes the gateway answers itself.
// A template is its segments; a segment "{x}" stands for any one segment.
// The last segment may end in a custom method, ":verb".
type routeTemplates []routeTemplate

type routeTemplate struct {
	segs    []string
	methods map[string]bool // upper case: GET, POST, ...
}

// loadRouteTemplates reads the templates from the served OpenAPI
// document.
func loadRouteTemplates(openAPI []byte) (routeTemplates, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		return nil, err
	}
	var ts routeTemplates
	for p, ops := range doc.Paths {
		t := routeTemplate{segs: strings.Split(strings.TrimPrefix(p, "/"), "/"), methods: map[string]bool{}}
		for m := range ops {
			t.methods[strings.ToUpper(m)] = true
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// known reports whether some route's template matches path, custom method
// included. grpc-gateway answers 405 for a path that matches a template
// only once an unknown custom method is read as part of an id
// (POST …/systems/s1:explode against …/systems/{system}); such a path is
// no route at all.
func (ts routeTemplates) known(path string) bool {
	_, ok := ts.match(path)
	return ok
}

// customMethodStatus decides a request for a custom method (a last path
// segment with ":verb") before grpc-gateway does, which would read an
// unknown verb as part of the id (GET …/systems/s1:explode as GetSystem of
// "s1:explode"): 404 when no route has that verb there, 405 when the
// route does not take the method, 0 to go on (also for any other path).
func (ts routeTemplates) customMethodStatus(method, path string) int {
	last := path[strings.LastIndex(path, "/")+1:]
	if !strings.Contains(last, ":") {
		return 0
	}
	t, ok := ts.match(path)
	switch {
	case !ok:
		return http.StatusNotFound
	case !t.methods[method] && !(method == http.MethodHead && t.methods[http.MethodGet]):
		return http.StatusMethodNotAllowed
	}
	return 0
}

func (ts routeTemplates) match(path string) (routeTemplate, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, t := range ts {
		if matchTemplate(t.segs, segs) {
			return t, true
		}
	}
	return routeTemplate{}, false
}

func matchTemplate(t, segs []string) bool {
	if len(t) != len(segs) {
		return false
	}
	last := len(t) - 1
	for i := range t {
		tseg, seg := t[i], segs[i]
		if i == last {
			tbase, tverb, _ := cutVerb(tseg, true)
			base, verb, _ := cutVerb(seg, false)
			if tverb != verb {
				return false
			}
			tseg, seg = tbase, base
		}
		if strings.HasPrefix(tseg, "{") && strings.HasSuffix(tseg, "}") {
			if seg == "" {
				return false
			}
			continue
		}
		if tseg != seg {
			return false
		}
	}
	return true
}

// cutVerb splits "s1:explode" into "s1" and "explode". In a template the
// verb follows the closing brace of a variable or a literal.
func cutVerb(seg string, template bool) (base, verb string, ok bool) {
	from := 0
	if template {
		if i := strings.LastIndex(seg, "}"); i >= 0 {
			from = i
		}
	}
	i := strings.LastIndex(seg[from:], ":")
	if i < 0 {
		return seg, "", false
	}
	return seg[:from+i], seg[from+i+1:], true
}
