package drivetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	drive "google.golang.org/api/drive/v3"
)

// Drive's documented limits on custom file properties.
const (
	maxPropertyBytes = 124 // key + value, UTF-8
	maxAppProperties = 30  // private properties per app
	maxPageSize      = 1000
	defaultPageSize  = 100
)

func boolParam(q url.Values, name string) bool { v, _ := strconv.ParseBool(q.Get(name)); return v }

// lookupLocked finds a live item by ID ("root" is My Drive's root) as the request may see it:
// items in a shared drive need supportsAllDrives=true.
func (s *Server) lookupLocked(id string, r *http.Request) (*file, bool) {
	if id == "root" {
		id = s.rootID
	}
	f, ok := s.files[id]
	if !ok {
		return nil, false
	}
	if f.driveID != "" && !boolParam(r.URL.Query(), "supportsAllDrives") {
		return nil, false
	}
	return f, true
}

// trashedLocked reports whether f or one of its ancestors is in the trash.
func (s *Server) trashedLocked(f *file) bool {
	for i := 0; f != nil && i < 10000; i++ {
		if f.trashed {
			return true
		}
		f = s.files[f.parent]
	}
	return false
}

func (s *Server) apiFileLocked(f *file) *drive.File {
	out := &drive.File{
		Kind: "drive#file", Id: f.id, Name: f.name, MimeType: f.mimeType, Description: f.description,
		AppProperties: clone(f.appProps), Properties: clone(f.props), Trashed: s.trashedLocked(f),
		ExplicitlyTrashed: f.trashed, CreatedTime: f.created.Format(time.RFC3339Nano),
		ModifiedTime: f.modified.Format(time.RFC3339Nano), Version: f.version, DriveId: f.driveID,
		ForceSendFields: []string{"Trashed", "Version"},
	}
	if f.parent != "" {
		out.Parents = []string{f.parent}
	}
	if f.isFolder() {
		out.WebViewLink = "https://drive.google.com/drive/folders/" + f.id
	} else {
		out.WebViewLink = "https://drive.google.com/file/d/" + f.id + "/view?usp=drivesdk"
		out.WebContentLink = "https://drive.google.com/uc?id=" + f.id + "&export=download"
		out.Md5Checksum = f.md5
		out.Size = f.data.size
		out.ForceSendFields = append(out.ForceSendFields, "Size")
	}
	for _, p := range f.perms {
		if p.Type == "anyone" {
			out.Shared = true
		}
	}
	return out
}

// defaultFileFields is what Drive v3 returns for a file when no fields are selected.
const defaultFileFields = "kind,id,name,mimeType"

func fieldsOr(r *http.Request, def string) string {
	if f := r.URL.Query().Get("fields"); f != "" {
		return f
	}
	return def
}

// metadata is a File resource in a request body. Absent fields are nil; appProperties values
// that are JSON null delete the property.
type metadata struct {
	ID            *string            `json:"id"`
	Name          *string            `json:"name"`
	MimeType      *string            `json:"mimeType"`
	Description   *string            `json:"description"`
	Parents       []string           `json:"parents"`
	AppProperties map[string]*string `json:"appProperties"`
	Properties    map[string]*string `json:"properties"`
	Trashed       *bool              `json:"trashed"`
	ModifiedTime  *string            `json:"modifiedTime"`
}

func decodeMetadata(r io.Reader) (*metadata, error) {
	var m metadata
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return &m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("invalid JSON payload: %v", err)
	}
	return &m, nil
}

// applyProps merges a property patch into dst under Drive's limits.
func applyProps(dst map[string]string, patch map[string]*string, limit int) (map[string]string, error) {
	if patch == nil {
		return dst, nil
	}
	out := clone(dst)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(*v) {
			return nil, fmt.Errorf("invalid property key or value")
		}
		if len(k)+len(*v) > maxPropertyBytes {
			return nil, fmt.Errorf("the limit for this property (%s) is %d bytes for key and value", truncate(k, 40), maxPropertyBytes)
		}
		out[k] = *v
	}
	if len(out) > limit {
		return nil, fmt.Errorf("the limit of %d properties per file per app has been exceeded", limit)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// newItemLocked validates create metadata and returns the (unstored) item.
func (s *Server) newItemLocked(w http.ResponseWriter, r *http.Request, m *metadata, defaultMime string) (*file, bool) {
	parent := s.rootID
	switch len(m.Parents) {
	case 0:
	case 1:
		parent = m.Parents[0]
	default:
		writeError(w, 403, "cannotAddParent", "Increasing the number of parents is not allowed.")
		return nil, false
	}
	p, ok := s.lookupLocked(parent, r)
	if !ok {
		notFound(w, parent)
		return nil, false
	}
	if !p.isFolder() {
		writeError(w, 400, "invalid", "The specified parent is not a folder.")
		return nil, false
	}
	f := &file{parent: p.id, driveID: p.driveID, name: "Untitled", mimeType: defaultMime, version: 1}
	if m.ID != nil && *m.ID != "" {
		// As Drive: an ID must come from files.generateIds, and names one item only.
		switch id := *m.ID; {
		case s.files[id] != nil:
			writeGoogleError(w, gError{Code: http.StatusConflict, Message: "A file already exists with the provided ID.",
				Reason: "duplicate", Domain: "global", Status: "ALREADY_EXISTS", Location: "file.id"})
			return nil, false
		case !s.generated[id]:
			writeGoogleError(w, gError{Code: http.StatusBadRequest, Message: "The provided file ID is not usable.",
				Reason: "fileIdNotUsable", Domain: "global", Status: "INVALID_ARGUMENT", Location: "file.id"})
			return nil, false
		}
		f.id = *m.ID
	}
	if m.Name != nil {
		f.name = *m.Name
	}
	if m.MimeType != nil && *m.MimeType != "" {
		f.mimeType = *m.MimeType
	}
	if m.Description != nil {
		f.description = *m.Description
	}
	var err error
	if f.appProps, err = applyProps(nil, m.AppProperties, maxAppProperties); err == nil {
		f.props, err = applyProps(nil, m.Properties, 100)
	}
	if err != nil {
		writeError(w, 400, "invalidProperty", err.Error())
		return nil, false
	}
	if m.Trashed != nil {
		f.trashed = *m.Trashed
	}
	return f, true
}

// storeLocked gives f an ID and timestamps and stores it.
func (s *Server) storeLocked(f *file) {
	now := s.nowLocked()
	s.seq++
	if f.id == "" {
		f.id = "1" + newID(32)
	}
	f.seq, f.created, f.modified = s.seq, now, now
	if f.data == nil && !f.isFolder() {
		f.data = &content{}
	}
	if f.data != nil {
		f.md5 = f.data.md5Hex()
	}
	s.files[f.id] = f
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	m, err := decodeMetadata(r.Body)
	if err != nil {
		writeError(w, 400, "parseError", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.newItemLocked(w, r, m, "application/octet-stream")
	if !ok {
		return
	}
	s.storeLocked(f)
	writeJSON(w, 200, s.apiFileLocked(f), fieldsOr(r, defaultFileFields))
}

// handleGenerateIds hands out IDs a create or copy may use (count 1-1000, default 10).
func (s *Server) handleGenerateIds(w http.ResponseWriter, r *http.Request) {
	count := 10
	if v := r.URL.Query().Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, 400, "invalid", "Invalid Value: count")
			return
		}
		count = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generated == nil {
		s.generated = map[string]bool{}
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = "1" + newID(32)
		s.generated[ids[i]] = true
	}
	writeJSON(w, 200, map[string]any{"kind": "drive#generatedIds", "space": "drive", "ids": ids}, r.URL.Query().Get("fields"))
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.lookupLocked(id, r)
	if !ok {
		notFound(w, id)
		return
	}
	writeJSON(w, 200, s.apiFileLocked(f), fieldsOr(r, defaultFileFields))
}

// handleDownload serves alt=media, honouring a single "bytes=" Range.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	f, ok := s.lookupLocked(id, r)
	if !ok {
		s.mu.Unlock()
		notFound(w, id)
		return
	}
	if f.isFolder() || f.data == nil {
		s.mu.Unlock()
		writeError(w, 403, "fileNotDownloadable", "Only files with binary content can be downloaded.")
		return
	}
	data, mimeType := f.data.clone(), f.mimeType
	s.mu.Unlock()

	start, length, partial, ok := parseRange(r.Header.Get("Range"), data.size)
	if !ok {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", data.size))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "requestedRangeNotSatisfiable", "Request range not satisfiable")
		return
	}
	w.Header().Set("Content-Type", mimeType)
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	w.Header().Set("Accept-Ranges", "bytes")
	status := http.StatusOK
	if partial {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, data.size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, data.section(start, length))
}

// parseRange interprets a Range header for a body of size bytes. A missing or multi-range header
// selects everything; ok is false when the range cannot be satisfied.
func parseRange(h string, size int64) (start, length int64, partial, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !found || strings.Contains(spec, ",") {
		return 0, size, false, true
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false, false
		}
		n = min(n, size)
		return size - n, n, true, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 || a >= size {
		return 0, 0, false, false
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return 0, 0, false, false
		}
		b = min(b, size-1)
	}
	return a, b - a + 1, true, true
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, id string) {
	m, f, ok := s.lockWithMetadata(w, r, id)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if !s.patchLocked(w, r, f, m) {
		return
	}
	writeJSON(w, 200, s.apiFileLocked(f), fieldsOr(r, defaultFileFields))
}

// patchLocked applies an update's metadata and addParents/removeParents to f.
func (s *Server) patchLocked(w http.ResponseWriter, r *http.Request, f *file, m *metadata) bool {
	if len(m.Parents) > 0 {
		writeError(w, 403, "parentsNotWritable", "The parents field is not directly writable in update requests. Use the addParents and removeParents parameters instead.")
		return false
	}
	q := r.URL.Query()
	newParent := f.parent
	if rm := q.Get("removeParents"); rm != "" {
		for _, p := range strings.Split(rm, ",") {
			if p == f.parent {
				newParent = ""
			}
		}
	}
	if add := q.Get("addParents"); add != "" {
		if strings.Contains(add, ",") || newParent != "" {
			writeError(w, 403, "cannotAddParent", "A shared drive item must have exactly one parent.")
			return false
		}
		p, ok := s.lookupLocked(add, r)
		if !ok {
			notFound(w, add)
			return false
		}
		if !p.isFolder() {
			writeError(w, 400, "invalid", "The specified parent is not a folder.")
			return false
		}
		newParent = p.id
	}
	if newParent == "" {
		writeError(w, 403, "cannotRemoveParent", "An item must have a parent.")
		return false
	}
	appProps, err := applyProps(f.appProps, m.AppProperties, maxAppProperties)
	var props map[string]string
	if err == nil {
		props, err = applyProps(f.props, m.Properties, 100)
	}
	if err != nil {
		writeError(w, 400, "invalidProperty", err.Error())
		return false
	}
	f.parent, f.appProps, f.props = newParent, appProps, props
	if p := s.files[newParent]; p != nil {
		f.driveID = p.driveID
	}
	if m.Name != nil {
		f.name = *m.Name
	}
	if m.MimeType != nil && *m.MimeType != "" && !f.isFolder() {
		f.mimeType = *m.MimeType
	}
	if m.Description != nil {
		f.description = *m.Description
	}
	if m.Trashed != nil {
		f.trashed = *m.Trashed
	}
	f.modified = s.nowLocked()
	if m.ModifiedTime != nil {
		if t, err := time.Parse(time.RFC3339Nano, *m.ModifiedTime); err == nil {
			f.modified = t
		}
	}
	f.version++
	return true
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.lookupLocked(id, r)
	if !ok || f.parent == "" {
		notFound(w, id)
		return
	}
	s.deleteTreeLocked(f.id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteTreeLocked(id string) {
	for cid, c := range s.files {
		if c.parent == id {
			s.deleteTreeLocked(cid)
		}
	}
	delete(s.files, id)
}

func (s *Server) handleCopy(w http.ResponseWriter, r *http.Request, id string) {
	m, src, ok := s.lockWithMetadata(w, r, id)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if src.isFolder() {
		writeError(w, 403, "cannotCopyFile", "This file cannot be copied by the user.")
		return
	}
	if m.Parents == nil {
		m.Parents = []string{src.parent}
	}
	if m.Name == nil {
		name := "Copy of " + src.name
		m.Name = &name
	}
	f, ok := s.newItemLocked(w, r, m, src.mimeType)
	if !ok {
		return
	}
	if m.Description == nil {
		f.description = src.description
	}
	var err error
	if f.appProps, err = applyProps(src.appProps, m.AppProperties, maxAppProperties); err == nil {
		f.props, err = applyProps(src.props, m.Properties, 100)
	}
	if err != nil {
		writeError(w, 400, "invalidProperty", err.Error())
		return
	}
	f.data = src.data.clone()
	s.storeLocked(f)
	writeJSON(w, 200, s.apiFileLocked(f), fieldsOr(r, defaultFileFields))
}

func (s *Server) handlePermission(w http.ResponseWriter, r *http.Request, id string) {
	var p drive.Permission
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
		writeError(w, 400, "parseError", "Invalid JSON payload")
		return
	}
	switch p.Type {
	case "user", "group", "domain", "anyone":
	default:
		writeGoogleError(w, gError{Code: 400, Message: "Invalid permission type.", Reason: "invalid",
			Domain: "global", Status: "INVALID_ARGUMENT", Location: "permission.type"})
		return
	}
	switch p.Role {
	case "reader", "commenter", "writer", "fileOrganizer", "organizer", "owner":
	default:
		writeGoogleError(w, gError{Code: 400, Message: "Invalid permission role.", Reason: "invalid",
			Domain: "global", Status: "INVALID_ARGUMENT", Location: "permission.role"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.lookupLocked(id, r)
	if !ok {
		notFound(w, id)
		return
	}
	if p.Type == "anyone" && s.denyLinkSharing {
		writeError(w, 403, "publishOutNotPermitted", "Sharing with anyone is not allowed by the domain administrator.")
		return
	}
	p.Kind, p.Id = "drive#permission", "anyoneWithLink"
	if p.Type != "anyone" {
		p.Id = newID(20)
	}
	f.perms = append(f.perms, &p)
	writeJSON(w, 200, &p, fieldsOr(r, "kind,id,type,role"))
}

// DenyLinkSharing makes permission requests of type "anyone" fail with 403, as a Workspace domain
// policy does.
func (s *Server) DenyLinkSharing(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyLinkSharing = deny
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	q, err := parseQuery(params.Get("q"))
	if err != nil {
		writeGoogleError(w, gError{Code: 400, Message: "Invalid Value", Reason: "invalid", Domain: "global",
			Status: "INVALID_ARGUMENT", Location: "q"})
		return
	}
	pageSize := defaultPageSize
	if ps := params.Get("pageSize"); ps != "" {
		if pageSize, err = strconv.Atoi(ps); err != nil || pageSize < 1 || pageSize > maxPageSize {
			writeGoogleError(w, gError{Code: 400, Message: "Invalid value for pageSize", Reason: "invalid",
				Domain: "global", Status: "INVALID_ARGUMENT", Location: "pageSize"})
			return
		}
	}
	offset := 0
	if tok := params.Get("pageToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "o"))
		if err != nil || !strings.HasPrefix(tok, "o") || n < 0 {
			writeGoogleError(w, gError{Code: 400, Message: "Invalid Value", Reason: "invalid", Domain: "global",
				Status: "INVALID_ARGUMENT", Location: "pageToken"})
			return
		}
		offset = n
	}
	less, err := orderBy(params.Get("orderBy"))
	if err != nil {
		writeGoogleError(w, gError{Code: 400, Message: "Invalid Value", Reason: "invalid", Domain: "global",
			Status: "INVALID_ARGUMENT", Location: "orderBy"})
		return
	}
	allDrives := boolParam(params, "supportsAllDrives") && boolParam(params, "includeItemsFromAllDrives")
	corpora, driveID := params.Get("corpora"), params.Get("driveId")
	if corpora == "drive" && (driveID == "" || !allDrives) {
		writeGoogleError(w, gError{Code: 403, Message: "The corpora drive requires driveId, supportsAllDrives and includeItemsFromAllDrives.",
			Reason: "teamDriveIdRequiresTeamDriveSupport", Domain: "global", Status: "PERMISSION_DENIED", Location: "driveId"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*file
	for _, f := range s.files {
		if f.parent == "" {
			continue
		}
		if f.driveID != "" && !allDrives {
			continue
		}
		if corpora == "drive" && f.driveID != driveID {
			continue
		}
		if !q.match(&file{name: f.name, mimeType: f.mimeType, parent: f.parent, appProps: f.appProps,
			props: f.props, trashed: s.trashedLocked(f), inRoot: f.parent == s.rootID}) {
			continue
		}
		matched = append(matched, f)
	}
	sort.Slice(matched, func(i, j int) bool { return less(matched[i], matched[j]) })
	list := &drive.FileList{Kind: "drive#fileList", Files: []*drive.File{}}
	if offset < len(matched) {
		end := min(offset+pageSize, len(matched))
		for _, f := range matched[offset:end] {
			list.Files = append(list.Files, s.apiFileLocked(f))
		}
		if end < len(matched) {
			list.NextPageToken = "o" + strconv.Itoa(end)
		}
	}
	writeJSON(w, 200, list, fieldsOr(r, "kind,incompleteSearch,nextPageToken,files("+defaultFileFields+")"))
}

// orderBy parses an orderBy parameter into a comparison; ties fall back to creation order.
func orderBy(spec string) (func(a, b *file) bool, error) {
	type key struct {
		cmp  func(a, b *file) int
		desc bool
	}
	var keys []key
	for _, part := range strings.Split(spec, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		k := key{desc: len(fields) == 2 && fields[1] == "desc"}
		if len(fields) > 2 || (len(fields) == 2 && fields[1] != "desc" && fields[1] != "asc") {
			return nil, fmt.Errorf("invalid orderBy")
		}
		switch fields[0] {
		case "createdTime":
			k.cmp = func(a, b *file) int { return a.created.Compare(b.created) }
		case "modifiedTime":
			k.cmp = func(a, b *file) int { return a.modified.Compare(b.modified) }
		case "name", "name_natural":
			k.cmp = func(a, b *file) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) }
		case "folder":
			k.cmp = func(a, b *file) int { return boolInt(b.isFolder()) - boolInt(a.isFolder()) }
		default:
			return nil, fmt.Errorf("invalid orderBy")
		}
		keys = append(keys, k)
	}
	return func(a, b *file) bool {
		for _, k := range keys {
			c := k.cmp(a, b)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return a.seq < b.seq
	}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lockWithMetadata decodes the request's file metadata, locks the server and looks up file id.
// On success the server stays locked for the caller to unlock; on failure the error response is
// written, the server is unlocked, and ok is false.
func (s *Server) lockWithMetadata(w http.ResponseWriter, r *http.Request, id string) (*metadata, *file, bool) {
	m, err := decodeMetadata(r.Body)
	if err != nil {
		writeError(w, 400, "parseError", err.Error())
		return nil, nil, false
	}
	s.mu.Lock()
	f, ok := s.lookupLocked(id, r)
	if !ok {
		s.mu.Unlock()
		notFound(w, id)
		return nil, nil, false
	}
	return m, f, true
}
