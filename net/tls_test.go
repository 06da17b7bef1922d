package net

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	stdnet "net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// pki writes a CA and a certificate it signed (cert, key, ca files) into
// dir, under name.
func pki(t *testing.T, dir, name string) (certFile, keyFile, caFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(file, typ string, der []byte) string {
		path := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey, key := newKey(), newKey()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

// TestJoinTLS: members with certificates from the cluster's CA join over
// TLS; a member whose certificate another CA signed is refused.
func TestJoinTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := pki(t, dir, "cluster")
	rogueCert, rogueKey, _ := pki(t, dir, "rogue")
	good, err := TLSConfig(cert, key, ca)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := TLSConfig(rogueCert, rogueKey, ca) // trusts our CA, but its own cert is not ours
	if err != nil {
		t.Fatal(err)
	}
	tryJoin := func(ls []stdnet.Listener, self int, cfg *tls.Config) error {
		members := []string{ls[0].Addr().String(), ls[1].Addr().String()}
		tr, err := Join(t.Context(), Config{
			Hello:    Hello{Name: members[self], PageSize: 4096, Pages: 8, Block: 1, Members: members},
			Self:     owner.NodeID(self),
			Listener: ls[self], TLS: cfg, JoinTimeout: 3 * time.Second,
		})
		if tr != nil {
			tr.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name   string
		second *tls.Config
		ok     bool
	}{{"same CA", good, true}, {"another CA", rogue, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ls := listeners(t, 2)
			errs := make(chan error, 2)
			go func() { errs <- tryJoin(ls, 0, good) }()
			go func() { errs <- tryJoin(ls, 1, tc.second) }()
			for range 2 {
				err := <-errs
				if tc.ok && err != nil {
					t.Errorf("want a join over TLS, got %v", err)
				}
				if !tc.ok && err == nil {
					t.Error("a peer with a certificate from another CA joined")
				}
			}
		})
	}
}
