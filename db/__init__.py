"""perfhud's SQL store: models, sessions, migrations and the queries the other packages share."""
