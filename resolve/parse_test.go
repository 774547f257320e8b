package resolve_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/resolve"
)

func TestParseVideoJSON(t *testing.T) {
	cases := []struct {
		name, in  string
		specified bool
		want      []destination.Destination
		errs      []string // "field code"
	}{
		{name: "omitted", in: `{"name":"x","layers":[1,2,{"destinations":[]}]}`},
		{name: "null counts as omitted", in: `{"destinations":null}`},
		{name: "names match exactly", in: `{"Destinations":[{"integrationId":"a","provider":"r2"}]}`},
		{name: "empty array", in: ` {"destinations" : [ ] } `, specified: true, want: []destination.Destination{}},
		{name: "documentation example", in: `{"name":"Product Promo","layers":[],"destinations":[{"integrationId":"018f","provider":"r2","pathPrefix":"campaigns/summer-2026/"}]}`,
			specified: true, want: []destination.Destination{{IntegrationID: "018f", Provider: "r2", PathPrefix: "campaigns/summer-2026/"}}},
		{name: "unknown fields and nulls", in: `{"destinations":[{"integrationId":"a","provider":null,"pathPrefix":null,"x":{"y":[true]},"IntegrationId":"b"}]}`,
			specified: true, want: []destination.Destination{{IntegrationID: "a"}}},
		{name: "values are not judged here", in: `{"destinations":[{"provider":"dropbox","pathPrefix":"/abs"}]}`,
			specified: true, want: []destination.Destination{{Provider: "dropbox", PathPrefix: "/abs"}}},
		{name: "escapes", in: `{"destinations":[{"integrationId":"\u0061","provider":"\u0072\u0032"}]}`,
			specified: true, want: []destination.Destination{{IntegrationID: "a", Provider: "r2"}}},

		{name: "not JSON", in: `{"destinations":[`, errs: []string{"videoJSON invalid"}},
		{name: "empty input", in: ``, errs: []string{"videoJSON invalid"}},
		{name: "trailing data", in: `{} {}`, errs: []string{"videoJSON invalid"}},
		{name: "syntax error later in the document", in: `{"destinations":[],"layers":[1,]}`, errs: []string{"videoJSON invalid"}},
		{name: "not an object", in: `[{"destinations":[]}]`, errs: []string{"videoJSON invalid"}},
		{name: "string document", in: `"destinations"`, errs: []string{"videoJSON invalid"}},
		{name: "destinations an object", in: `{"destinations":{"integrationId":"a"}}`, errs: []string{"destinations invalid"}},
		{name: "destinations a string", in: `{"destinations":"r2"}`, errs: []string{"destinations invalid"}},
		{name: "destinations a number", in: `{"destinations":0}`, errs: []string{"destinations invalid"}},
		{name: "destinations false", in: `{"destinations":false}`, errs: []string{"destinations invalid"}},
		{name: "destinations twice", in: `{"destinations":[],"destinations":[]}`, errs: []string{"destinations duplicate"}},
		{name: "entries of the wrong type", in: `{"destinations":[1,"a",null,[],true,{}]}`,
			errs: []string{"destinations[0] invalid", "destinations[1] invalid", "destinations[2] invalid", "destinations[3] invalid", "destinations[4] invalid"}},
		{name: "fields of the wrong type", in: `{"destinations":[{"integrationId":1,"provider":["r2"],"pathPrefix":{}},{"pathPrefix":false}]}`,
			errs: []string{"destinations[0].integrationId invalid", "destinations[0].provider invalid", "destinations[0].pathPrefix invalid", "destinations[1].pathPrefix invalid"}},
		{name: "field twice", in: `{"destinations":[{"integrationId":"a","provider":"s3","provider":"r2"}]}`,
			errs: []string{"destinations[0].provider duplicate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := resolve.ParseVideoJSON([]byte(tc.in))
			if tc.errs == nil {
				if err != nil {
					t.Fatalf("ParseVideoJSON: %v", err)
				}
				if req.Specified != tc.specified || len(req.Destinations) != len(tc.want) || (tc.want == nil) != (req.Destinations == nil) {
					t.Fatalf("got %+v, want specified=%v %+v", req, tc.specified, tc.want)
				}
				for i := range tc.want {
					if req.Destinations[i] != tc.want[i] {
						t.Errorf("[%d] = %+v, want %+v", i, req.Destinations[i], tc.want[i])
					}
				}
				return
			}
			var ve *destination.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, destination.ErrInvalid) {
				t.Fatalf("err = %v (%T), want a *destination.ValidationError", err, err)
			}
			var got []string
			for _, fe := range ve.Errors {
				got = append(got, fe.Field+" "+fe.Code)
			}
			if !equal(got, tc.errs) {
				t.Fatalf("field errors:\n got %q\nwant %q\n(%v)", got, tc.errs, err)
			}
			if req.Specified || req.Destinations != nil {
				t.Errorf("request %+v returned with an error", req)
			}
		})
	}
}

// Parse errors never quote the input, which may hold anything (including secrets pasted by mistake).
func TestParseErrorsDoNotQuoteInput(t *testing.T) {
	for _, in := range []string{
		`{"destinations":[{"integrationId":{"secretAccessKey":"` + secretMarker + `"}}]}`,
		`{"destinations":"` + secretMarker + `"}`,
		`{"destinations":[],"config":{"secretAccessKey":"` + secretMarker + `"` + "\x00" + `}}`,
		`{"` + secretMarker + `" 1}`,
		`[` + secretMarker + `]`,
		`{"destinations":[{"` + secretMarker + `":1,"provider":1}]}`,
	} {
		_, err := resolve.ParseVideoJSON([]byte(in))
		if err == nil {
			t.Fatalf("%s: no error", in)
		}
		assertClientSafe(t, err)
	}
}

func TestParseProblemsAreCapped(t *testing.T) {
	in := `{"destinations":[` + strings.Repeat(`1,`, 100000) + `1]}`
	_, err := resolve.ParseVideoJSON([]byte(in))
	var ve *destination.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) > 51 {
		t.Fatalf("got %d problems", len(ve.Errors))
	}
	if last := ve.Errors[len(ve.Errors)-1]; last.Field != "destinations" {
		t.Errorf("last problem %+v does not say the list is cut", last)
	}
}

// The samples in testdata/videojson parse and resolve as expected end to end.
func TestSamples(t *testing.T) {
	store := memstore.New()
	seed(t, store)
	r := resolve.New(store, resolve.Options{})
	want := map[string]string{ // sample → targets or first error field+code
		"documentation-example.json": idR2 + " renders/campaigns/summer-2026/",
		"omitted.json":               idR2 + " renders/",
		"null.json":                  idR2 + " renders/",
		"empty.json":                 "",
		"several.json":               idAzure + " archive/2026/x/," + idR2 + " renders/," + idDrive + " ",
		"escapes.json":               "destinations[0].integrationId not_found",
		"wrong-types.json":           "destinations[0].integrationId invalid",
		"not-an-array.json":          "destinations invalid",
		"duplicate-member.json":      "destinations duplicate",
		"problems.json":              "destinations[1].integrationId not_found",
		"malformed.json":             "videoJSON invalid",
		"not-an-object.json":         "videoJSON invalid",
	}
	files, _ := filepath.Glob("testdata/videojson/*.json")
	if len(files) != len(want) {
		t.Fatalf("%d samples, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		req, err := resolve.ParseVideoJSON(data)
		var ts []destination.Target
		if err == nil {
			ts, err = r.Resolve(context.Background(), user, req)
		}
		if err != nil {
			var ve *destination.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("%s: %v", f, err)
			}
			got = ve.Errors[0].Field + " " + ve.Errors[0].Code
		} else {
			got = strings.Join(describe(ts), ",")
		}
		if got != want[filepath.Base(f)] {
			t.Errorf("%s: got %q, want %q", filepath.Base(f), got, want[filepath.Base(f)])
		}
	}
}

// FuzzParseVideoJSON: no input panics the parser or the resolver, every error is a
// *destination.ValidationError naming a field, and a request is only returned without error.
func FuzzParseVideoJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/videojson/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	store := memstore.New()
	seed(f, store)
	r := resolve.New(store, resolve.Options{MaxDestinations: 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := resolve.ParseVideoJSON(data)
		if err != nil {
			checkValidationError(t, err)
			if req.Specified || req.Destinations != nil {
				t.Fatalf("request %+v returned with an error", req)
			}
			return
		}
		if !req.Specified && req.Destinations != nil {
			t.Fatalf("destinations %+v without Specified", req.Destinations)
		}
		for _, c := range []destination.Caller{user, bareKey} {
			ts, err := r.Resolve(context.Background(), c, req)
			if err != nil {
				checkValidationError(t, err)
				continue
			}
			for _, tg := range ts {
				if in, err := store.Get(context.Background(), c.WorkspaceID, tg.IntegrationID); err != nil || !in.IsActive ||
					in.Provider != tg.Provider || len(tg.Prefix) > destination.MaxPrefixLen {
					t.Fatalf("bad target %+v for caller %+v", tg, c)
				}
			}
		}
	})
}

func checkValidationError(t *testing.T, err error) {
	t.Helper()
	var ve *destination.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, destination.ErrInvalid) || len(ve.Errors) == 0 {
		t.Fatalf("err = %v (%T), want a non-empty *destination.ValidationError", err, err)
	}
	for _, fe := range ve.Errors {
		if fe.Code == "" || fe.Message == "" || !(fe.Field == "videoJSON" || strings.HasPrefix(fe.Field, "destinations")) {
			t.Fatalf("bad field error %+v", fe)
		}
	}
}
