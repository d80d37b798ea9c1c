"""Regenerate ``sql_functions.txt``, the functions user SQL may call, from ``system.functions``.

A maintainer's tool, never run by the collector: the list is committed and reviewed as data.
Run it with each supported ClickHouse (chDB 26.x in the dev venv, chdb 2.1.1 for 24.8) and
merge; a new ClickHouse release adds functions, which stay refused until someone reviews them
here and adds them to an allowed category or to ``ALLOWED_OTHER``.

    python -m modeltrace_collector.query.gen_sql_functions [other-version.tsv ...] > sql_functions.txt

Extra arguments: ``name<TAB>is_aggregate<TAB>alias_to`` dumps from other versions, made with
``SELECT name, is_aggregate, alias_to FROM system.functions`` in TSVRaw (24.8 has no categories,
so its own names count only when they are aliases of allowed functions or in ``ALLOWED_OTHER``).
"""

from __future__ import annotations

import sys

from .functions import UNBOUNDED_WORK

# Whole categories of system.functions (26.x) that compute on their arguments only.
ALLOWED_CATEGORIES = {
    "Aggregate Functions", "Arithmetic", "Arrays", "Bit", "Bitmap", "Comparison", "Conditional",
    "Dates and Times", "Distance", "Encoding", "Encryption", "Financial", "Geo", "Geo Polygon", "Hash",
    "IP Address", "JSON", "Logical", "Map", "Mathematical", "Null", "NumericIndexedVector", "QBit",
    "Rounding", "String", "String Replacement", "String Search", "String Splitting", "Time Window", "Tuple",
    "Type Conversion", "URL", "UUID",
}  # fmt: skip
# Refused categories: Dictionary and Embedded Dictionary (read dictionaries and files outside the
# database), Introspection (symbols, logTrace), AI (call external model APIs), Machine Learning
# (model files), Time Series (the tag store is shared state), Random Number (below), Internal (below).

# Reviewed by hand: pure functions from "Other", "Internal", "Random Number" and "Machine
# Learning", and 24.8 names that 26.x dropped.
ALLOWED_OTHER = {
    # Other
    "MACNumToString", "MACStringToNum", "MACStringToOUI", "bar", "blockNumber", "blockSize", "byteSize",
    "colorOKLABToSRGB", "colorOKLCHToSRGB", "colorSRGBToOKLAB", "colorSRGBToOKLCH", "countDigits",
    "currentDatabase", "defaultValueOfArgumentType", "defaultValueOfTypeName", "errorCodeToName",
    "finalizeAggregation", "flipCoordinates", "formatReadableDecimalSize", "formatReadableQuantity",
    "formatReadableSize", "formatReadableTimeDelta", "getSizeOfEnumType", "getSubcolumn", "identity", "ignore",
    "indexHint", "initializeAggregation", "isConstant", "isDecimalOverflow", "lowCardinalityIndices",
    "lowCardinalityKeys", "materialize", "minSampleSizeContinuous", "minSampleSizeConversion", "neighbor",
    "parseISO8601Duration", "parseReadableSize", "parseReadableSizeOrNull", "parseReadableSizeOrZero",
    "parseTimeDelta", "rowNumberInAllBlocks", "rowNumberInBlock", "runningAccumulate", "runningConcurrency",
    "runningDifference", "runningDifferenceStartingWithFirstValue", "throwIf", "toColumnTypeName",
    "toTypeName", "transform", "variantElement", "variantType", "visibleWidth",
    # Internal: what the parser itself writes for CASE x WHEN and x::T
    "_CAST", "caseWithExpression",
    # Random Number: bounded by the memory cap like any other value
    "rand", "rand64", "randBernoulli", "randBinomial", "randCanonical", "randChiSquared", "randConstant",
    "randExponential", "randFisherF", "randLogNormal", "randNegativeBinomial", "randNormal", "randPoisson",
    "randStudentT", "randUniform", "randomFixedString", "randomPrintableASCII", "randomString",
    "randomStringUTF8",
    # Machine Learning: aggregates and their evaluation on a state, no model files
    "stochasticLinearRegression", "stochasticLogisticRegression", "evalMLMethod",
    # Time Series: array functions without the shared tag store
    "seriesDecomposeSTL", "seriesOutliersDetectTukey",
    # 24.8 only
    "dateTimeToSnowflake", "dateTime64ToSnowflake", "snowflakeToDateTime", "snowflakeToDateTime64", "windowID",
}  # fmt: skip

# Never allowed, whatever their category says: they read outside the database (files, URLs,
# dictionaries, other tables, settings, the host), write, or stall the server. The unit tests
# assert these stay out of the list.
REFUSED = {
    "file", "url", "s3", "remote", "cluster", "view", "input", "executable", "catboostEvaluate", "joinGet",
    "joinGetOrNull", "hasColumnInTable", "getSetting", "getSettingOrDefault", "getServerSetting",
    "getMergeTreeSetting", "getMacro", "hostName", "FQDN", "sleep", "sleepEachRow", "logTrace",
    "generateSerialID", "filesystemAvailable", "filesystemCapacity", "filesystemUnreserved", "globalVariable",
    "getClientHTTPHeader", "currentUser", "currentRoles", "currentProfiles", "serverUUID", "uptime",
    "getOSKernelVersion", "tcpPort", "getServerPort", "buildId", "displayName", "showCertificate",
    "addressToLine", "addressToSymbol", "demangle", "dictGet", "dictHas", "regionToName", "aiGenerate",
    "naiveBayesClassifier", "timeSeriesStoreTags", "zookeeperSessionUptime", "__getScalar",
}  # fmt: skip

# Refused as well: UNBOUNDED_WORK in functions.py, whose work per row is superlinear without a cap
# (edit distances, hasAll/hasAny, arrayFold, Hyperscan's multi*Match*).
NEVER = REFUSED | set(UNBOUNDED_WORK)

# Parser-made names that system.functions does not list.
SYNTHETIC = {"lambda": "s", "exists": "s", "grouping": "s"}


def _rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line]


def main(argv: list[str]) -> None:
    import chdb

    current = _rows(
        chdb.query(  # type: ignore[no-untyped-call]
            "SELECT name, is_aggregate, alias_to, categories, case_insensitive FROM system.functions "
            "WHERE origin = 'System'",
            "TSVRaw",
        )
        .bytes()
        .decode()
    )
    version = chdb.query("SELECT version()", "TSVRaw").bytes().decode().strip()  # type: ignore[no-untyped-call]
    info = {r[0]: r for r in current}
    allowed: dict[str, tuple[str, int]] = {}

    def decide(name: str, aggregate: str, alias_to: str, category: str, ci: int) -> None:
        if name in NEVER or (alias_to and alias_to in NEVER):
            return
        target = info.get(alias_to) if alias_to else None
        cats = set((target[3] if target else category).split(", ")) if (target or category) else set()
        if name in ALLOWED_OTHER or (alias_to and alias_to in ALLOWED_OTHER) or (cats and cats <= ALLOWED_CATEGORIES):
            allowed[name] = ("a" if aggregate == "1" else "s", ci)

    for name, aggregate, alias_to, category, ci in current:
        decide(name, aggregate, alias_to, category, int(ci))
    for path in argv:
        with open(path, encoding="utf-8") as f:
            for name, aggregate, alias_to in (r[:3] for r in _rows(f.read())):
                if name not in info:
                    decide(name, aggregate, alias_to, "", 0)
    for name, kind in SYNTHETIC.items():
        allowed[name] = (kind, 0)
    print(f"# Functions user SQL may call (modeltrace SQL sandbox), from system.functions of ClickHouse {version}")
    print("# and 24.8, by the category policy and hand review in gen_sql_functions.py. Edit there, not here.")
    print("# name  kind (s: scalar, a: aggregate; combinators like -If/-State apply to these)  case-insensitive")
    for name in sorted(allowed, key=lambda n: (n.lower(), n)):
        print(f"{name} {allowed[name][0]} {allowed[name][1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
