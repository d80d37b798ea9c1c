// Sends COUNT spans of service SERVICE to URL with the OpenTelemetry JavaScript OTLP/HTTP
// exporter KIND (proto or json), COMPRESSION gzip or none; exits 1 when an export fails.
const { TracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const [kind, url, service, count, compression] = process.argv.slice(2);
const { OTLPTraceExporter } = require(
  kind === 'proto' ? '@opentelemetry/exporter-trace-otlp-proto' : '@opentelemetry/exporter-trace-otlp-http'
);
const exporter = new OTLPTraceExporter({ url, compression });
let failed = null;
const export_ = exporter.export.bind(exporter);
exporter.export = (spans, done) =>
  export_(spans, (result) => {
    if (result.code !== 0) failed = result.error || new Error(`export result ${result.code}`);
    done(result);
  });
const provider = new TracerProvider({
  resource: resourceFromAttributes({ 'service.name': service }),
  spanProcessors: [new BatchSpanProcessor({ exporter, maxExportBatchSize: 512 })],
});
const tracer = provider.getTracer('modeltrace-js-test');
for (let i = 0; i < Number(count); i++) {
  tracer.startSpan('predict', { attributes: { 'ml.model.name': 'js-model', call: i } }).end();
}
provider.shutdown().then(
  () => {
    if (failed) {
      console.error(String(failed));
      process.exit(1);
    }
    console.log('exported');
  },
  (error) => {
    console.error(String(error));
    process.exit(1);
  }
);
