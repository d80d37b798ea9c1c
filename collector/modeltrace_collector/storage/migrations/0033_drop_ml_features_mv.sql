DROP VIEW IF EXISTS {db}.ml_features_mv {on_cluster}
