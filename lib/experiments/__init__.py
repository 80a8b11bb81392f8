"""Pipeline stage 5, experiments: ablations (freezing, restoring), domain shift and the findings."""
from lib.experiments import evidence, findings
from lib.experiments.ablation import Ablation, ablation_items, ablation_table, ablation_tables, check_grid, freezing_grid, share_lost
from lib.experiments.inputs import INPUTS, Similarity, input_name, input_vectors, similarity_table
from lib.experiments.pca import pca_table, pos_pca
from lib.experiments.restoring import restoring
from lib.experiments.shift import DOMAINS, IN_DOMAIN, DomainShift, domain_scores, domain_sentences, shift_tables

__all__ = ["DOMAINS", "INPUTS", "IN_DOMAIN", "Ablation", "DomainShift", "Similarity", "ablation_items", "ablation_table", "ablation_tables",
           "check_grid", "domain_scores", "domain_sentences", "evidence", "findings", "freezing_grid", "input_name",
           "input_vectors", "pca_table", "pos_pca", "restoring", "share_lost", "shift_tables", "similarity_table"]
