// Swagger UI over the schema embedded in the page (templates/api_keys/docs.html); no request for the schema,
// no CDN. "Try it out" sends the X-App-Id/X-App-Token given under "Authorize".
(function () {
  var schema = JSON.parse(document.getElementById("openapi-schema").textContent);
  window.SwaggerUIBundle({
    spec: schema,
    dom_id: "#swagger-ui",
    deepLinking: true,
    defaultModelsExpandDepth: 0,
    presets: [window.SwaggerUIBundle.presets.apis],
  });
})();
