package outputs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ilovevideoeditor/outputs/delivery"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/resolve"
)

// Keyring seals and opens the secret fields of integrations. *crypto.Keyring implements it.
type Keyring interface {
	// SealSecret encrypts plaintext for field of in, bound to in's workspace, ID and the field.
	SealSecret(ctx context.Context, in *destination.Integration, field destination.SecretField, plaintext string) (destination.Sealed, error)
	destination.Unsealer
}

// Options configure a Service. Store and Keyring are required.
type Options struct {
	// Store keeps the integrations.
	Store destination.Store
	// Keyring seals secrets at rest (see crypto.Keyring).
	Keyring Keyring
	// Uploader talks to the storage providers (see provider.Client). Without it, tests and
	// deliveries to customer storage return destination.ErrUnsupported.
	Uploader destination.Uploader
	// AllowInsecureEndpoints accepts http:// endpoints in configurations (tests, private
	// deployments). Off by default.
	AllowInsecureEndpoints bool
	// Logger receives structured logs; never a secret. Defaults to slog.Default().
	Logger *slog.Logger
	// Clock returns the current time. Defaults to time.Now.
	Clock func() time.Time
	// NewID returns a new integration ID. Defaults to UUIDv7 strings.
	NewID func() (string, error)
	// Delivery configures the delivery engine behind Deliver (package delivery). Its Store,
	// Uploader, Logger and Clock default to the Service's.
	Delivery DeliveryOptions
	// Resolve configures ResolveDestinations (prefix nesting or replacement, maximum count).
	Resolve resolve.Options
	// Drive, when set, enables the Google Drive OAuth connection (see drive.NewConnector).
	Drive DriveConnector
	// Deliveries, when set, keeps the delivery records GetDelivery reads (written by a queue
	// such as delivery/riverqueue). sqlstore.Store and memstore.Deliveries implement it.
	Deliveries destination.DeliveryStore
}

// Service implements the public API of the library over a Store, a Keyring and an Uploader. It is
// safe for concurrent use.
type Service struct {
	store    destination.Store
	keyring  Keyring
	uploader destination.Uploader
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	newID    func() (string, error)
	resolver destination.Resolver
	engine   *delivery.Engine
}

// ErrBadOptions reports a Service built without a required part.
var ErrBadOptions = errors.New("outputs: invalid options")

// New returns a Service. It fails when Store or Keyring is missing.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("%w: Store is required", ErrBadOptions)
	}
	if opts.Keyring == nil {
		return nil, fmt.Errorf("%w: Keyring is required", ErrBadOptions)
	}
	s := &Service{store: opts.Store, keyring: opts.Keyring, uploader: opts.Uploader, opts: opts,
		log: opts.Logger, now: opts.Clock, newID: opts.NewID}
	// The Service persists the refresh tokens a provider rotates (Google Drive) itself, for the
	// Uploader of tests and that of deliveries alike.
	for _, u := range []any{opts.Uploader, opts.Delivery.Uploader} {
		if w, ok := u.(interface{ SetTokenSaver(destination.TokenSaver) }); ok {
			w.SetTokenSaver(s)
		}
	}
	s.resolver = resolve.New(opts.Store, opts.Resolve)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.compose(opts.Delivery); err != nil {
		return nil, err
	}
	if s.newID == nil {
		s.newID = func() (string, error) {
			id, err := uuid.NewV7()
			return id.String(), err
		}
	}
	return s, nil
}

// CreateInput is the body of a create request (and of the legacy PUT /v1/destination).
type CreateInput struct {
	Provider destination.Provider `json:"provider"`
	Name     string               `json:"name"`
	// IsActive defaults to true when omitted.
	IsActive  *bool              `json:"isActive,omitempty"`
	IsDefault bool               `json:"isDefault"`
	Config    destination.Config `json:"config"`
}

// UpdateInput is the body of a partial update: nil fields are left as they are.
type UpdateInput struct {
	// Version, when non-zero, must equal the stored version (else destination.ErrConflict).
	// When zero, the update applies to whatever version is current.
	Version   int64   `json:"version,omitempty"`
	Name      *string `json:"name,omitempty"`
	IsActive  *bool   `json:"isActive,omitempty"`
	IsDefault *bool   `json:"isDefault,omitempty"`
	// Config, when set, replaces the configuration. A secret field that is empty or carries the
	// masked hint the view showed keeps the stored secret; a new value replaces it. A change to a
	// field that decides where a stored secret is sent (destination.CredentialTargetFields)
	// requires that secret again (destination.CodeSecretRequired on the secret's field).
	Config *destination.Config `json:"config,omitempty"`
}

// DecodeCreateInput decodes a create request body strictly: unknown fields and wrong JSON types are
// a *destination.ValidationError naming the field.
func DecodeCreateInput(data []byte) (CreateInput, error) {
	var in CreateInput
	return in, decodeStrict(data, &in)
}

// DecodeUpdateInput decodes an update request body strictly, like DecodeCreateInput.
func DecodeUpdateInput(data []byte) (UpdateInput, error) {
	var in UpdateInput
	return in, decodeStrict(data, &in)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ve *destination.ValidationError
		if errors.As(err, &ve) { // from Provider.UnmarshalText
			return ve
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", destination.CodeInvalid, "unexpected data after the JSON object")
	}
	return nil
}

// jsonError maps an encoding/json error to a ValidationError without echoing values.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return invalid(te.Field, destination.CodeInvalid, "has the wrong JSON type")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if len(name) > 64 {
			name = name[:64]
		}
		return invalid(name, destination.CodeNotAllowed, "unknown field")
	}
	return invalid("", destination.CodeInvalid, "malformed JSON body")
}

func invalid(field, code, msg string) error {
	return &destination.ValidationError{Errors: []destination.FieldError{{Field: field, Code: code, Message: msg}}}
}

func requireWorkspace(c destination.Caller) error {
	if c.WorkspaceID == "" {
		return fmt.Errorf("outputs: the API key is not linked to a workspace: %w", destination.ErrNoWorkspace)
	}
	return nil
}

// storeErr wraps an error of the Store for op. An error of one of destination's kinds (not
// found, conflict, ...) or a context's keeps its kind; any other is a server fault
// (destination.ErrInternal).
func storeErr(op string, err error) error {
	if destination.Kind(err) == destination.ErrInternal && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, destination.ErrInternal) {
		return fmt.Errorf("outputs: %s: %w: %w", op, destination.ErrInternal, err)
	}
	return fmt.Errorf("outputs: %s: %w", op, err)
}

func checkName(p *destination.Problems, name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		p.Add("name", destination.CodeRequired, "is required")
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		p.Add("name", destination.CodeInvalid, "must be printable UTF-8 text")
	case utf8.RuneCountInString(name) > 100:
		p.Add("name", destination.CodeTooLong, "must be at most 100 characters")
	}
	return name
}

// maskPrefix starts every masked hint; a secret value starting with it is never a real secret.
const maskPrefix = "••••"

// CreateIntegration validates and stores a new integration in the caller's workspace and returns
// its view. IsDefault makes it the workspace's only default. Drive integrations are created by
// the OAuth connection (DriveAuthURL, then CompleteDrive), not here.
func (s *Service) CreateIntegration(ctx context.Context, caller destination.Caller, in CreateInput) (*destination.Integration, error) {
	if err := requireWorkspace(caller); err != nil {
		return nil, err
	}
	var probs destination.Problems
	if !in.Provider.Valid() {
		_, err := destination.ParseProvider(string(in.Provider))
		probs.Merge("", err)
	} else if in.Provider == destination.Drive {
		probs.Add("provider", destination.CodeNotAllowed, "Google Drive is connected through the OAuth flow (drive/auth-url), not created directly")
	}
	name := checkName(&probs, in.Name)
	active := in.IsActive == nil || *in.IsActive
	if in.IsDefault && !active {
		probs.Add("isDefault", destination.CodeInactive, "an inactive integration cannot be the default")
	}
	for _, f := range destination.SecretFields(in.Provider) {
		if strings.HasPrefix(in.Config.Secret(f), maskPrefix) {
			probs.Add("config."+string(f), destination.CodeInvalid, "send the secret itself, not its masked hint")
		}
	}
	var cfg destination.Config
	if in.Provider.Valid() {
		var err error
		cfg, err = destination.Validate(in.Provider, in.Config, destination.ValidateOptions{AllowInsecureEndpoints: s.opts.AllowInsecureEndpoints, Now: s.now})
		probs.Merge("", err)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	cfg.ExternalID = "" // read-only: generated, never chosen by the tenant
	if err := s.setExternalID(ctx, caller.WorkspaceID, in.Provider, &cfg); err != nil {
		return nil, err
	}
	stored, err := s.insert(ctx, &destination.Integration{WorkspaceID: caller.WorkspaceID, Provider: in.Provider, Name: name,
		IsActive: active, IsDefault: in.IsDefault}, cfg)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "integration created", "workspace", stored.WorkspaceID, "integration", stored.ID,
		"provider", stored.Provider, "default", stored.IsDefault)
	return s.view(stored), nil
}

// insert gives in a new ID and timestamps, seals cfg into it and stores it.
func (s *Service) insert(ctx context.Context, in *destination.Integration, cfg destination.Config) (*destination.Integration, error) {
	id, err := s.newID()
	if err != nil {
		return nil, fmt.Errorf("outputs: new integration ID: %w: %w", destination.ErrInternal, err)
	}
	now := s.now().UTC()
	in.ID, in.CreatedAt, in.UpdatedAt = id, now, now
	if err := s.sealConfig(ctx, in, cfg, nil); err != nil {
		return nil, err
	}
	stored, err := s.store.Create(ctx, in)
	if err != nil {
		return nil, storeErr("create integration", err)
	}
	return stored, nil
}

// sealConfig stores cfg's non-secret fields in integ.Config and seals its secret fields into
// integ.Secrets. A secret field that is empty or a masked hint keeps the value in kept.
func (s *Service) sealConfig(ctx context.Context, integ *destination.Integration, cfg destination.Config, kept map[destination.SecretField]destination.Sealed) error {
	secrets := map[destination.SecretField]destination.Sealed{}
	for _, f := range destination.CredentialSecrets(integ.Provider, cfg) {
		v := cfg.Secret(f)
		if v == "" || strings.HasPrefix(v, maskPrefix) {
			if old, ok := kept[f]; ok {
				secrets[f] = old
			}
			continue
		}
		sealed, err := s.keyring.SealSecret(ctx, integ, f, v)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("outputs: seal %s: %w: %w", f, destination.ErrInternal, err)
		}
		secrets[f] = sealed
	}
	integ.Config = cfg.WithoutSecrets()
	integ.Secrets = secrets
	return nil
}

// View returns a copy of in fit to show a client: no sealed data, and each stored secret field
// replaced by its masked hint.
func View(in *destination.Integration) *destination.Integration {
	if in == nil {
		return nil
	}
	v := in.Clone()
	v.Config = v.Config.WithoutSecrets()
	for f, sealed := range v.Secrets {
		if f == destination.SecretDriveRefresh {
			continue // never settable or shown
		}
		hint := sealed.Hint
		if !strings.HasPrefix(hint, maskPrefix) {
			hint = maskPrefix
		}
		v.Config.SetSecret(f, hint)
	}
	v.Secrets = nil
	return v
}

// ListIntegrations returns the views of the caller's integrations, oldest first.
func (s *Service) ListIntegrations(ctx context.Context, caller destination.Caller) ([]*destination.Integration, error) {
	if err := requireWorkspace(caller); err != nil {
		return nil, err
	}
	list, err := s.store.List(ctx, caller.WorkspaceID)
	if err != nil {
		return nil, storeErr("list integrations", err)
	}
	views := make([]*destination.Integration, len(list))
	for i, in := range list {
		views[i] = s.view(in)
	}
	return views, nil
}

// GetIntegration returns the view of one of the caller's integrations.
func (s *Service) GetIntegration(ctx context.Context, caller destination.Caller, id string) (*destination.Integration, error) {
	in, err := s.get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	return s.view(in), nil
}

func (s *Service) get(ctx context.Context, caller destination.Caller, id string) (*destination.Integration, error) {
	if err := requireWorkspace(caller); err != nil {
		return nil, err
	}
	if id == "" || len(id) > 128 {
		return nil, fmt.Errorf("outputs: integration %w", destination.ErrNotFound)
	}
	in, err := s.store.Get(ctx, caller.WorkspaceID, id)
	if err != nil {
		return nil, storeErr("get integration", err)
	}
	return in, nil
}

// UpdateIntegration applies a partial update to one of the caller's integrations and returns the
// new view. Setting IsDefault makes it the workspace's only default; an inactive integration
// cannot become the default (destination.ErrInactive).
func (s *Service) UpdateIntegration(ctx context.Context, caller destination.Caller, id string, in UpdateInput) (*destination.Integration, error) {
	return s.modify(ctx, caller, id, in.Version, func(cur *destination.Integration) error {
		return s.applyUpdate(ctx, cur, in)
	})
}

// modify reads an integration, applies change and writes it back with an optimistic version
// check. With version 0 a concurrent change is retried on the new state a few times.
func (s *Service) modify(ctx context.Context, caller destination.Caller, id string, version int64, change func(*destination.Integration) error) (*destination.Integration, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, caller, id)
		if err != nil {
			return nil, err
		}
		if version != 0 && cur.Version != version {
			return nil, fmt.Errorf("outputs: update integration: %w", destination.ErrConflict)
		}
		if err := change(cur); err != nil {
			return nil, err
		}
		cur.UpdatedAt = s.now().UTC()
		stored, err := s.store.Update(ctx, cur)
		if errors.Is(err, destination.ErrConflict) && version == 0 && attempt < 4 {
			continue
		}
		if err != nil {
			return nil, storeErr("update integration", err)
		}
		s.log.InfoContext(ctx, "integration updated", "workspace", stored.WorkspaceID, "integration", stored.ID,
			"version", stored.Version, "default", stored.IsDefault, "active", stored.IsActive)
		return s.view(stored), nil
	}
}

func (s *Service) applyUpdate(ctx context.Context, cur *destination.Integration, in UpdateInput) error {
	var probs destination.Problems
	if in.Name != nil {
		cur.Name = checkName(&probs, *in.Name)
	}
	if in.IsActive != nil {
		cur.IsActive = *in.IsActive
	}
	if in.IsDefault != nil {
		if *in.IsDefault && !cur.IsActive {
			probs.Add("isDefault", destination.CodeInactive, "an inactive integration cannot be the default")
		}
		cur.IsDefault = *in.IsDefault
	}
	if in.Config != nil {
		if err := s.mergeConfig(ctx, &probs, cur, *in.Config); err != nil {
			return err
		}
	}
	return probs.Err()
}

// mergeConfig validates next as cur's new configuration, keeping stored secrets that next omits;
// problems go to probs. Its error is a server fault (sealing failed).
func (s *Service) mergeConfig(ctx context.Context, probs *destination.Problems, cur *destination.Integration, next destination.Config) error {
	var kept []destination.SecretField
	for _, f := range destination.SecretFields(cur.Provider) {
		v := next.Secret(f)
		if _, ok := cur.Secrets[f]; ok && (v == "" || strings.HasPrefix(v, maskPrefix)) {
			kept = append(kept, f)
			next.SetSecret(f, "")
		} else if strings.HasPrefix(v, maskPrefix) {
			probs.Add("config."+string(f), destination.CodeInvalid, "send the secret itself, not its masked hint")
		}
	}
	if cur.Provider == destination.GCS && next.GCSProjectID == "" && next.GCSServiceAccountJSON == "" {
		next.GCSProjectID = cur.Config.GCSProjectID // derived from the kept key
	}
	keepReadOnly(cur, &next, kept)
	cfg, err := destination.Validate(cur.Provider, next, destination.ValidateOptions{
		AllowInsecureEndpoints: s.opts.AllowInsecureEndpoints, StoredSecrets: kept, Previous: &cur.Config, Now: s.now})
	if err != nil || probs.Len() > 0 {
		probs.Merge("", err)
		return nil
	}
	if err := s.setExternalID(ctx, cur.WorkspaceID, cur.Provider, &cfg); err != nil {
		return err
	}
	return s.sealConfig(ctx, cur, cfg, cur.Secrets)
}

// SetDefault makes one of the caller's integrations the workspace's only default.
func (s *Service) SetDefault(ctx context.Context, caller destination.Caller, id string) (*destination.Integration, error) {
	t := true
	return s.UpdateIntegration(ctx, caller, id, UpdateInput{IsDefault: &t})
}

// DeleteIntegration removes one of the caller's integrations. Deleting the default leaves the
// workspace without one (renders then go to the CDN only).
func (s *Service) DeleteIntegration(ctx context.Context, caller destination.Caller, id string) error {
	if err := requireWorkspace(caller); err != nil {
		return err
	}
	if err := s.store.Delete(ctx, caller.WorkspaceID, id); err != nil {
		return storeErr("delete integration", err)
	}
	s.log.InfoContext(ctx, "integration deleted", "workspace", caller.WorkspaceID, "integration", id)
	return nil
}
