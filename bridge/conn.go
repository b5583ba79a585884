package bridge

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions are the connection settings the shmring bridge command
// takes, named as the nats CLI names its flags.
type ConnectOptions struct {
	Name             string // the client name the server shows
	Creds            string // --creds: a credentials file (JWT and NKey seed)
	NKey             string // --nkey: a file holding an NKey seed
	User, Password   string // --user, --password (or a token as --user alone)
	TLSCert, TLSKey  string // --tlscert, --tlskey: client certificate
	TLSCA            string // --tlsca: the CA that signed the server's certificate
	ReconnectWait    time.Duration
	ReconnectBufSize int // bytes buffered while disconnected (core Out); default 64 MiB
}

// Connect connects to the NATS servers of url (comma-separated URLs) and
// reconnects for ever: the bridge outlives server restarts. It returns
// at once even if no server is up yet (the connection is made in the
// background).
func Connect(url string, o ConnectOptions) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(max(o.ReconnectWait, 10*time.Millisecond)),
		nats.ReconnectBufSize(64 << 20),
	}
	if o.ReconnectBufSize != 0 {
		opts = append(opts, nats.ReconnectBufSize(o.ReconnectBufSize))
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("bridge: nkey %s: %w", o.NKey, err)
		}
		opts = append(opts, opt)
	}
	switch {
	case o.User != "" && o.Password != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	case o.User != "":
		opts = append(opts, nats.Token(o.User))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bridge: connect %s: %w", url, err)
	}
	return nc, nil
}
