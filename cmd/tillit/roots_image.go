//go:build tillit_image

package main

// The container image (Containerfile) is an empty base: no /etc/ssl, so crypto/x509 finds no
// system roots there, and SMTP over TLS (TILLIT_SMTP_URL smtps:// or STARTTLS) and webhook
// deliveries over HTTPS would trust no server. This bundle (Mozilla's roots as golang.org/x/crypto
// ships them) is used only when the system offers none (x509.SetFallbackRoots): a file named by
// SSL_CERT_FILE or SSL_CERT_DIR, mounted into the container, still wins. deploy/build-image
// builds with the tag tillit_image; other builds use the machine's roots and carry no bundle.
import _ "golang.org/x/crypto/x509roots/fallback"
