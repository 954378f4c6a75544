// Command ceiling is the bench's bare handler: it answers every request
// with the same body of -size bytes, served by net/http or by fasthttp
// (-server), and nothing else. Measured in the same run as the gateways,
// it is the most a server can do on this machine for a small answer,
// so the distance of S1, S2 and S8 to the machine's ceiling is visible.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve on")
	server := flag.String("server", "net", "net (net/http) or fasthttp")
	size := flag.Int("size", 4096, "body size in bytes")
	flag.Parse()
	body := bytes.Repeat([]byte("x"), *size)
	length := strconv.Itoa(len(body))
	switch *server {
	case "net":
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", length)
			w.Write(body)
		})
		log.Fatal(http.ListenAndServe(*listen, h))
	case "fasthttp":
		s := &fasthttp.Server{
			Handler: func(ctx *fasthttp.RequestCtx) {
				ctx.SetContentType("application/octet-stream")
				ctx.SetBody(body)
			},
			NoDefaultServerHeader: true,
		}
		log.Fatal(s.ListenAndServe(*listen))
	default:
		log.Fatalf("-server %q: use net or fasthttp", *server)
	}
}
