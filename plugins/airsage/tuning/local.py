"""The local target's tuner: Optuna TPE over the SageMaker search space, one training job a trial.

Each trial is a real training job run by the training runner (same script, same contract, its
own ``model.tar.gz``). Early stopping ``Auto`` is Optuna's MedianPruner fed with every value
of the objective metric the script prints while it runs (the bert family prints one per
epoch), and a pruned trial's subprocess is stopped at once, as SageMaker stops a training job
whose objective trails the median of earlier jobs at the same point. Studies persist in an
Optuna storage (SQLite under ``settings.home`` by default) so that later tuning jobs can
warm start from them:

- ``IdenticalDataAndAlgorithm``: the parents' finished trials are added to the new study as
  prior evaluations (not rerun): TPE starts from what they learnt;
- ``TransferLearning``: the parents' best hyperparameters are enqueued as the first trials
  and rerun on the new data.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.lake.base import Lake
from airsage.training.base import TrainingRunner
from airsage.training.job import TrainingJobSpec
from airsage.training.local import LocalTrainingRunner
from airsage.tuning.job import TrialResult, TuningResult
from airsage.tuning.space import TuningSpace

WARM_START_ATTR = "warm_start_parent"


class TrialJobFailed(Exception):
    """A trial's training job failed; Optuna records the trial as FAIL and tuning goes on."""


class OptunaTuner:
    """Bayesian (TPE) or random search with Optuna; trials run through the training runner."""

    def __init__(self, settings: Settings, runner: TrainingRunner | None = None) -> None:
        self.settings = settings
        self.runner: TrainingRunner = runner or LocalTrainingRunner(settings)
        section = settings.section("tuning")
        self.storage_url = str(section.get("storage") or "") or (
            f"sqlite:///{Path(settings.home) / 'optuna.db'}"
        )
        seed = section.get("seed")
        self.seed = int(seed) if seed is not None else None

    # -- public API ---------------------------------------------------------------------
    def tune(
        self,
        lake: Lake,
        dataset: str,
        base_spec: TrainingJobSpec,
        space: TuningSpace,
        *,
        tuning_job_name: str | None = None,
    ) -> TuningResult:
        """Run ``space.max_jobs`` training jobs; return every trial and the best job."""
        import optuna

        # Optuna prints each trial to stderr through its own handler; hand its records to
        # Python logging instead (the caller's log, at their own level).
        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()
        started = time.monotonic()
        name = tuning_job_name or base_spec.job_name[:28].rstrip("-") + "-hpo"
        storage = self._storage()
        if name in optuna.get_all_study_names(storage):
            optuna.delete_study(study_name=name, storage=storage)  # a rerun replaces its own study
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction="maximize" if space.objective_type == "Maximize" else "minimize",
            sampler=self._sampler(space, name),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
            if space.early_stopping == "Auto"
            else optuna.pruners.NopPruner(),
        )
        parents = self._warm_start(study, storage, space, name)

        lock = threading.Lock()
        results: dict[int, TrialResult] = {}

        def objective(trial: Any) -> float:
            hyperparameters = dict(base_spec.hyperparameters)
            for parameter in space.parameter_ranges:
                hyperparameters[parameter.name] = parameter.suggest(trial)
            job_name = f"{name}-{trial.number:03d}"
            trial.set_user_attr("job_name", job_name)
            trial.set_user_attr("hyperparameters", hyperparameters)
            spec = base_spec.with_changes(job_name=job_name, hyperparameters=hyperparameters)
            reports: list[float] = []
            pruned: list[bool] = []

            def on_metric(metric: str, value: float, index: int) -> bool:
                if metric != space.objective_metric:
                    return False
                reports.append(value)
                trial.report(value, index)
                if space.early_stopping == "Auto" and trial.should_prune():
                    pruned.append(True)
                    return True
                return False

            job = self.runner.run(lake, dataset, spec, on_metric=on_metric)
            value = job.final_metrics.get(space.objective_metric)
            state = job.status
            if job.status == "Completed" and value is None:
                state = "Failed"
            with lock:
                results[trial.number] = TrialResult(
                    number=trial.number,
                    job_name=job_name,
                    state=state,
                    hyperparameters=hyperparameters,
                    objective_value=value if state == "Completed" else None,
                    intermediate_values=tuple(reports),
                    training_job=job,
                )
            if job.status == "Stopped" and pruned:
                raise optuna.TrialPruned(job.failure_reason)
            if state != "Completed" or value is None:  # a Completed job without it is Failed
                raise TrialJobFailed(
                    job.failure_reason
                    or f"the job printed no {space.objective_metric!r} metric; check its regex"
                )
            return float(value)

        study.optimize(
            objective,
            n_trials=space.max_jobs,
            n_jobs=space.max_parallel_jobs,
            catch=(TrialJobFailed,),
        )
        trials = [results[number] for number in sorted(results)]
        completed = [t for t in trials if t.state == "Completed" and t.objective_value is not None]
        if not completed:
            reasons = "\n".join(
                f"  - {t.job_name}: {t.state}: "
                + ((t.training_job.failure_reason or "")[-800:] if t.training_job else "")
                for t in trials
            )
            raise StepFailed(
                f"tuning job {name} (dataset {dataset}, local target): none of its {len(trials)} "
                f"training jobs completed with a {space.objective_metric!r} value:\n{reasons}"
            )
        sign = 1.0 if space.objective_type == "Maximize" else -1.0
        best = max(completed, key=lambda t: sign * float(t.objective_value))  # type: ignore[arg-type]
        assert best.training_job is not None
        return TuningResult(
            tuning_job_name=name,
            best=best.training_job,
            trials=trials,
            objective=space.objective_metric,
            objective_type=space.objective_type,
            best_value=float(best.objective_value),  # type: ignore[arg-type]
            duration_seconds=time.monotonic() - started,
            warm_start_parents=parents,
            storage=_without_password(self.storage_url),
            space=space.to_dict(),
        )

    # -- helpers ------------------------------------------------------------------------
    def _storage(self) -> Any:
        import optuna

        if self.storage_url.startswith("sqlite:///"):
            Path(self.storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(self.storage_url)

    def _sampler(self, space: TuningSpace, name: str) -> Any:
        import optuna

        seed = self.seed if self.seed is not None else int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
        if space.strategy == "Random":
            return optuna.samplers.RandomSampler(seed=seed)
        # SageMaker's Bayesian search also starts with random jobs; scale that to the budget.
        startup = max(2, min(10, space.max_jobs // 3))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)

    def _warm_start(self, study: Any, storage: Any, space: TuningSpace, name: str) -> tuple[str, ...]:
        """Seed ``study`` from the parent studies; return the parents used."""
        import optuna

        if space.warm_start is None:
            return ()
        known = set(optuna.get_all_study_names(storage))
        distributions = space.optuna_distributions()
        seeded: list[tuple[float, dict[str, Any], str]] = []
        for parent in space.warm_start.parents:
            if parent == name:
                raise ConfigurationError(
                    f"tuning job {name} lists itself as a warm-start parent; name an earlier job"
                )
            if parent not in known:
                raise ConfigurationError(
                    f"warm-start parent tuning job {parent!r} has no study in {self.storage_url}; "
                    f"known studies: {sorted(known - {name})}"
                )
            parent_study = optuna.load_study(study_name=parent, storage=storage)
            for trial in parent_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
                if set(trial.params) != set(distributions) or trial.value is None:
                    continue  # a different search space: its points do not fit this one
                if not all(
                    distributions[key]._contains(distributions[key].to_internal_repr(value))
                    for key, value in trial.params.items()
                ):
                    continue
                seeded.append((float(trial.value), dict(trial.params), parent))
        if space.warm_start.type == "IdenticalDataAndAlgorithm":
            for value, params, parent in seeded:
                study.add_trial(
                    optuna.trial.create_trial(
                        params=params,
                        distributions=distributions,
                        value=value,
                        user_attrs={WARM_START_ATTR: parent},
                    )
                )
        else:
            sign = -1.0 if space.objective_type == "Maximize" else 1.0
            best_first = sorted(seeded, key=lambda item: sign * item[0])
            for _, params, parent in best_first[: max(1, space.max_jobs // 2)]:
                study.enqueue_trial(params, user_attrs={WARM_START_ATTR: parent})
        return space.warm_start.parents


def _without_password(url: str) -> str:
    """The storage URL as results and reports show it (an RDB URL's password masked)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: nothing to hide
        return url
