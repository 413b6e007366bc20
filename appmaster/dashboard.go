package appmaster

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The dashboard is static HTML, CSS and JavaScript in web/, written for floe
// and embedded in the binary: nothing is fetched from the internet at run
// time. It reads the REST interface with relative URLs only, so it works
// on the JobManager's port and behind YARN's web proxy, which serves it
// under /proxy/<application>/.
//
//go:embed web
var webFiles embed.FS

func dashboardRoutes(mux *http.ServeMux) {
	sub, _ := fs.Sub(webFiles, "web")
	mux.Handle("GET /web/", http.StripPrefix("/web/", http.FileServerFS(sub)))
}

// wantsHTML reports whether a request for / comes from a browser (the
// dashboard) rather than from a client of the JSON API.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func serveDashboard(w http.ResponseWriter) {
	b, err := webFiles.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}
