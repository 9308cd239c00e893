package ingest_test

import (
	"os"
	"testing"

	"github.com/hookd-dev/hookd/internal/pgtest"
)

// pg serves the tests that run on PostgreSQL as well as on SQLite.
var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
