package tests

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMutualTLS: two nodes with certificates from the cluster's CA work
// together over TLS (certificates made with openssl, as an operator would).
func TestMutualTLS(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	ssl := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=dsmfs test CA")
	ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=dsmfs node")
	ssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "node.pem", "-days", "1")
	c := startClusterWith(t, clusterOpts{flags: []string{
		"--tls-cert", filepath.Join(dir, "node.pem"), "--tls-key", filepath.Join(dir, "node.key"), "--tls-ca", filepath.Join(dir, "ca.pem"),
	}})
	mustRun(t, dsm("write", c.seg(0), 0, c.pages*pageSize, 13)...)
	mustRun(t, dsm("check", c.seg(1), 0, c.pages*pageSize, 13)...)
}
