package drivetest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/ilovevideoeditor/outputs/provider/drive/drivetest"
	"golang.org/x/oauth2"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

// The fake serves the Drive v3 client: here a folder, a file uploaded into it, and a query.
func Example() {
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	ctx := context.Background()
	svc, err := srv.Service(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	folder, err := svc.Files.Create(&drive.File{Name: "renders", MimeType: drivetest.FolderMimeType}).Do()
	if err != nil {
		log.Fatal(err)
	}
	f, err := svc.Files.Create(&drive.File{Name: "hello.txt", Parents: []string{folder.Id}}).
		Media(strings.NewReader("hello")).Fields("id,name,size,md5Checksum").Do()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Name, f.Size, f.Md5Checksum)

	list, err := svc.Files.List().Q(fmt.Sprintf("'%s' in parents and name = 'HELLO.TXT' and trashed = false", folder.Id)).
		Fields("files(name)").Do()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(list.Files), list.Files[0].Name)
	// Output:
	// hello.txt 5 5d41402abc4b2a76b9719d911017c592
	// 1 hello.txt
}

// Faults make chosen calls fail the way Drive does under load.
func ExampleServer_InjectFault() {
	srv := drivetest.NewServer(drivetest.Options{})
	defer srv.Close()
	svc, err := srv.Service(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	srv.InjectFault(drivetest.Fault{Op: "files.list", Status: 403, Reason: "userRateLimitExceeded"})

	_, err = svc.Files.List().Do()
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.Code, ge.Errors[0].Reason)
	}
	_, err = svc.Files.List().Do() // the fault applied once
	fmt.Println(err, srv.Calls("files.list"))
	// Output:
	// 403 userRateLimitExceeded
	// <nil> 2
}

// The fake's OAuth endpoints run the authorization-code flow with PKCE; Authorize plays the
// user's browser.
func ExampleServer_Authorize() {
	srv := drivetest.NewServer(drivetest.Options{RequireAuth: true})
	defer srv.Close()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	conf := srv.OAuthConfig("https://app.example.com/callback", drive.DriveFileScope)

	verifier := oauth2.GenerateVerifier()
	redirect, err := srv.Authorize(ctx, conf.AuthCodeURL("xyz", oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(redirect.Query().Get("state"), tok.RefreshToken != "", tok.Extra("scope"))

	svc, err := srv.Service(ctx, conf.Client(ctx, tok))
	if err != nil {
		log.Fatal(err)
	}
	_, err = svc.Files.List().Do()
	fmt.Println(err)
	// Output:
	// xyz true https://www.googleapis.com/auth/drive.file
	// <nil>
}
