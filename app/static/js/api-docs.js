// Starts Swagger UI on the API documentation page (templates/api/docs.html).
// A file of its own rather than an inline script: the page's Content Security
// Policy runs scripts from this site only. Loaded with defer, after the
// bundle, so the page and SwaggerUIBundle are both there when it runs.
"use strict";

(() => {
  const container = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: container.dataset.openapiUrl,
    domNode: container,
    deepLinking: true,
    // The validator badge would send the document to another site, and load its answer from there.
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
