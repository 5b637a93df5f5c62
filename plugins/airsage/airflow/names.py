"""Names users see (DAG ids, task ids, asset names, Variable names), decided once."""

from __future__ import annotations

DATASET = "reviews"

DAILY_DAG_ID = "reviews_daily"
DRIFT_DAG_ID = "reviews_drift_monitor"
BATCH_DAG_ID = "reviews_batch_scoring"

CONFIG_VARIABLE = "airsage_config"

# reviews_daily, in pipeline order
INGEST = "ingest"
CRAWL = "crawl"
VALIDATE_SQL = "validate_sql"
QUALITY_GATE = "quality_gate"
CURATE = "curate"
BIAS_GATE = "bias_gate"
PREPARE = "prepare"
TRAIN = "train"
# aws: the training job (train) or the tuning job (tune), chosen by the tuning Param, then joined
TRAIN_MODE, TUNE, TRAINED = "train_mode", "tune", "trained"
EVALUATE = "evaluate"
# aws: the serving champion evaluated by its own SageMaker job before register (locally register does it)
CHAMPION_EVALUATION = "champion_evaluation"
REGISTER = "register"
APPROVAL_ROUTE = "approval_route"
APPROVE_MODEL = "approve_model"
RECORD_APPROVAL = "record_approval"
RECORD_REJECTION = "record_rejection"
AUTO_APPROVED = "auto_approved"
KEEP_CHAMPION = "keep_champion"
BASELINE = "baseline"
DEPLOY = "deploy"
REPORT = "report"

# reviews_drift_monitor
MONITOR = "monitor"
SIGNAL_DRIFT = "signal_drift"

DRIFT_ASSET_NAME = "reviews_sentiment_drift"
DRIFT_ASSET_URI = "x-airsage://reviews-sentiment/drift"

# reviews_batch_scoring: scheduled on the asset the deploy step emits for a deployed model
SCORE = "score"
DEPLOYED_ASSET_NAME = "reviews_sentiment_deployed"
DEPLOYED_ASSET_URI = "x-airsage://reviews-sentiment/deployed"
