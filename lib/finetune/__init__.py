"""Pipeline stage 3, fine-tuning: tasks, inputs, heads, metrics, the loop and the store of models.

The store trains each model once and finds it for every chapter.
"""
from lib.finetune.chance import chance_scores, chance_table
from lib.finetune.config import FinetuneConfig, Finetuning
from lib.finetune.loop import Prepared, prepare
from lib.finetune.store import FineTuned, get_or_train, get_or_train_all, history_table, metrics_table, stored
from lib.finetune.tasks import MAIN_METRIC, TASKS, load_task
from lib.finetune.vectors import Model, Pretrained, task_layers

__all__ = ["FineTuned", "FinetuneConfig", "Finetuning", "MAIN_METRIC", "Model", "Prepared", "Pretrained", "TASKS",
           "chance_scores", "chance_table", "get_or_train", "get_or_train_all", "history_table", "load_task", "metrics_table", "prepare",
           "stored", "task_layers"]
