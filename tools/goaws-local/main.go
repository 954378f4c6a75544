// Command goaws-local serves goaws (an SQS stand-in) on a chosen address.
//
// goaws's own main listens on 0.0.0.0; tests and local runs must only listen
// on loopback, so this wrapper loads the same YAML configuration and serves
// the same router on the address given with -addr.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4100", "address to listen on (host:port)")
	config := flag.String("config", "goaws.yaml", "goaws YAML configuration file")
	env := flag.String("env", "Local", "environment name inside the configuration file")
	flag.Parse()

	conf.LoadYamlConfig(*config, *env)
	// Queue URLs returned to clients carry the configured port: keep it in
	// step with the address actually served.
	if _, port, err := net.SplitHostPort(*addr); err == nil {
		models.CurrentEnvironment.Port = port
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("goaws-local: %v", err)
	}
	quit := make(chan bool)
	go gosqs.PeriodicTasks(time.Second, quit)

	log.Printf("goaws-local listening on %s", ln.Addr())
	srv := &http.Server{Handler: router.New(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
