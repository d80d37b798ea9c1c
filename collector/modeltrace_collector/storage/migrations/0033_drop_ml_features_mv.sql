DROP VIEW IF EXISTS {database}.ml_features_mv {on_cluster}
