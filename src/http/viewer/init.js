// Starts Swagger UI on accredo's own OpenAPI document. A file rather than an inline script,
// so the page's Content-Security-Policy can allow scripts from this server only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api-docs/openapi.json",
    dom_id: "#ui",
    // The online validator badge would load an image from validator.swagger.io.
    validatorUrl: null,
  });
});
