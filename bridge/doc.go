// Package bridge forwards shmring messages across hosts through NATS.
package bridge
