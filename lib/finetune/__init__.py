"""Pipeline stage 3, fine-tuning: tasks, inputs, heads, metrics, the loop and the store of models.

The store trains each model once and finds it for every chapter.
"""
from lib.finetune.chance import chance_scores, chance_table
from lib.finetune.config import FinetuneConfig, Finetuning
from lib.finetune.layers import model_identity, model_layers, task_layers
from lib.finetune.loop import prepare
from lib.finetune.store import get_or_train, history_table, load_finetuned, metrics_table, stored
from lib.finetune.tasks import TASKS, load_task

__all__ = ["FinetuneConfig", "Finetuning", "TASKS", "chance_scores", "chance_table", "get_or_train", "history_table", "load_finetuned", "load_task",
           "metrics_table", "model_identity", "model_layers", "prepare", "stored", "task_layers"]
