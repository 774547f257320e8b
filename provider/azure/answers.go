package azure

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/ilovevideoeditor/outputs/provider"
)

// answerCheck is a pipeline policy that refuses the successful answers the Go CDK's azureblob
// cannot take: it dereferences Last-Modified of a download, Last-Modified and
// x-ms-creation-time of a blob's properties, and Last-Modified and Content-Length of every
// listed blob without checking that the endpoint sent them, so an endpoint that leaves one out
// (a tenant's own, or anything that is not Azure) would crash the process with every other
// tenant's deliveries in it. Such an answer becomes a permanent provider_incompatible error.
type answerCheck struct{}

func (answerCheck) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	r := req.Raw()
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && q.Get("comp") == "list":
		return checkListing(resp)
	case q.Get("restype") != "" || q.Get("comp") != "":
		return resp, nil // container and block operations: nothing of theirs is dereferenced
	case r.Method == http.MethodHead && (resp.Header.Get("Last-Modified") == "" || resp.Header.Get("x-ms-creation-time") == ""),
		r.Method == http.MethodGet && resp.Header.Get("Last-Modified") == "":
		return refuse(resp, "the blob's answer lacks Last-Modified or x-ms-creation-time")
	}
	return resp, nil
}

// listing is what checkListing reads of a List Blobs answer.
type listing struct {
	Blobs []struct {
		Properties *struct {
			LastModified  *string `xml:"Last-Modified"`
			ContentLength *string `xml:"Content-Length"`
		} `xml:"Properties"`
	} `xml:"Blobs>Blob"`
}

// checkListing refuses a listing with a blob whose Properties, Last-Modified or Content-Length
// is missing, and hands the answer on otherwise (its body read once, within the shared
// client's bound, and given back).
func checkListing(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var l listing
	if xml.Unmarshal(body, &l) == nil { // what does not parse, the SDK refuses itself
		for _, b := range l.Blobs {
			if b.Properties == nil || b.Properties.LastModified == nil || b.Properties.ContentLength == nil {
				return refuse(resp, "a listed blob lacks Last-Modified or Content-Length")
			}
		}
	}
	return resp, nil
}

func refuse(resp *http.Response, detail string) (*http.Response, error) {
	_ = resp.Body.Close()
	return nil, provider.Classified(provider.CodeProviderIncompatible, false, detail).UploadError(errors.New("azure: " + detail))
}
