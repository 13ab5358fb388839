package proxy

import "github.com/valyala/fasthttp"

// disclosing are upstream response headers that reveal implementation
// details (server software and versions) and are never relayed.
var disclosing = [][]byte{[]byte("Server"), []byte("X-Powered-By"), []byte("X-AspNet-Version"), []byte("X-AspNetMvc-Version")}

// cleanResponse prepares an upstream response for the client: hop-by-hop
// fields removed (RFC 9110 §7.6.1), disclosing fields removed.
func cleanResponse(h *fasthttp.ResponseHeader) {
	stripResponseHopByHop(h)
	for _, k := range disclosing {
		h.DelBytes(k)
	}
}
