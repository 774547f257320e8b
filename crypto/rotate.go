package crypto

import (
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// KeyStatus is the state of a key in the keyring.
type KeyStatus string

// Key states.
const (
	KeyEnabled   KeyStatus = "enabled"   // seals (when primary) and opens
	KeyDisabled  KeyStatus = "disabled"  // kept, but opens nothing until enabled again
	KeyDestroyed KeyStatus = "destroyed" // key material gone
	KeyUnknown   KeyStatus = "unknown"
)

// KeyInfo describes one key of the keyring. It holds no key material.
type KeyInfo struct {
	ID      uint32
	Status  KeyStatus
	Primary bool
}

// Keys lists the keyring's keys in keyset order.
func (k *Keyring) Keys() []KeyInfo { return k.load().keys() }

func (st *ringState) keys() []KeyInfo {
	if st.handle == nil {
		return nil
	}
	info := st.handle.KeysetInfo()
	out := make([]KeyInfo, 0, len(info.GetKeyInfo()))
	for _, ki := range info.GetKeyInfo() {
		out = append(out, KeyInfo{ID: ki.GetKeyId(), Status: statusOf(ki.GetStatus()), Primary: ki.GetKeyId() == st.primary})
	}
	return out
}

func statusOf(s tinkpb.KeyStatusType) KeyStatus {
	switch s {
	case tinkpb.KeyStatusType_ENABLED:
		return KeyEnabled
	case tinkpb.KeyStatusType_DISABLED:
		return KeyDisabled
	case tinkpb.KeyStatusType_DESTROYED:
		return KeyDestroyed
	}
	return KeyUnknown
}

// AddKey adds a fresh AES256-GCM key (TINK prefix), enabled but not primary, and returns its ID.
// Persist and distribute the keyset to every process before promoting the key, so that all of
// them can open what it seals.
func (k *Keyring) AddKey() (uint32, error) {
	var id uint32
	err := k.rotate(func(_ *ringState, m *keyset.Manager) error {
		var err error
		id, err = m.Add(aead.AES256GCMKeyTemplate())
		return err
	})
	return id, err
}

// Promote makes the key keyID the primary: new secrets are sealed with it, and the other
// enabled keys keep opening what they sealed. The key must be enabled.
func (k *Keyring) Promote(keyID uint32) error {
	return k.rotate(func(st *ringState, m *keyset.Manager) error {
		if err := st.checkKey(keyID, KeyEnabled); err != nil {
			return err
		}
		return m.SetPrimary(keyID)
	})
}

// Disable disables the key keyID: what it sealed no longer opens (until Enable). Run Reencrypt
// first. The primary key cannot be disabled (ErrPrimaryKey).
func (k *Keyring) Disable(keyID uint32) error {
	return k.rotate(func(st *ringState, m *keyset.Manager) error {
		if err := st.checkKey(keyID, ""); err != nil {
			return err
		}
		return m.Disable(keyID)
	})
}

// Enable enables a disabled key again, reversing Disable.
func (k *Keyring) Enable(keyID uint32) error {
	return k.rotate(func(st *ringState, m *keyset.Manager) error {
		if err := st.checkKey(keyID, ""); err != nil {
			return err
		}
		return m.Enable(keyID)
	})
}

// Delete removes the key keyID from the keyset for good: what it sealed can never be opened
// again. The primary key cannot be deleted (ErrPrimaryKey).
func (k *Keyring) Delete(keyID uint32) error {
	return k.rotate(func(st *ringState, m *keyset.Manager) error {
		if err := st.checkKey(keyID, ""); err != nil {
			return err
		}
		return m.Delete(keyID)
	})
}

// checkKey reports ErrUnknownKey for a key not in the keyset, ErrPrimaryKey when want is empty
// (a disable or delete) and keyID is the primary, and an error when want is set and the key is
// in another state.
func (st *ringState) checkKey(keyID uint32, want KeyStatus) error {
	for _, ki := range st.keys() {
		if ki.ID != keyID {
			continue
		}
		switch {
		case want == "" && ki.Primary:
			return fmt.Errorf("%w (key %d)", ErrPrimaryKey, keyID)
		case want != "" && ki.Status != want:
			return fmt.Errorf("%w: key %d is %s, want %s", ErrKeyState, keyID, ki.Status, want)
		}
		return nil
	}
	return fmt.Errorf("%w: %d", ErrUnknownKey, keyID)
}

// rotate applies change to a copy of the current keyset and swaps in the result atomically.
// Errors of change that are ours pass through; Tink's are wrapped.
func (k *Keyring) rotate(change func(*ringState, *keyset.Manager) error) error {
	if k.load().handle == nil {
		return errUninitialized
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.load()
	m := keyset.NewManagerFromHandle(st.handle)
	if err := change(st, m); err != nil {
		if errors.Is(err, ErrPrimaryKey) || errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrKeyState) {
			return err
		}
		return fmt.Errorf("crypto: rotation: %v", err)
	}
	h, err := m.Handle()
	if err != nil {
		return fmt.Errorf("crypto: rotation: %v", err)
	}
	next, err := newState(h)
	if err != nil {
		return err
	}
	k.state.Store(next)
	return nil
}
