-- The OTLP type of every attribute that is not a string (storage/schema.py), keyed span.<key>,
-- resource.<key>, event.<i>.<key> or link.<i>.<key>, valued int, double, bool, bytes, array or kvlist.
-- The exporter's columns stay as they are: rows inserted without this column get an empty map.
ALTER TABLE {db}.otel_traces {on_cluster}
ADD COLUMN IF NOT EXISTS AttributeTypes Map(LowCardinality(String), LowCardinality(String)) DEFAULT map()
COMMENT 'OTLP type of each attribute that is not a string, by span.key, resource.key, event.i.key or link.i.key'
CODEC(ZSTD(1))
