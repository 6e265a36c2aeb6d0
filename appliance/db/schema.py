"""Every model of every room in one list: what the database binds and what the schema diff
(`python -m playhouse.migrations ... "appliance.db.schema:ALL_MODELS"`) compares against."""

from __future__ import annotations

from peewee import Model

from appliance.db import (
    models,
    models_cluster,
    models_driver,
    models_money,
    models_offline,
    models_payments,
    models_people,
    models_pki,
    models_reports,
    models_site,
)

ALL_MODELS: list[type[Model]] = [*models.MODELS, *models_money.MODELS, *models_site.MODELS,
                                 *models_driver.MODELS, *models_reports.MODELS,
                                 *models_people.MODELS, *models_payments.MODELS,
                                 *models_pki.MODELS, *models_offline.MODELS,
                                 *models_cluster.MODELS]
