"""The classic LSTM-vs-Transformer training experiment and the long-range probes.

    data.py        the noisy sine wave, windows, splits, loader, naive baseline
    models.py      the two families (batch_first, dropout 0; or the classic script's
                   hyper-parameters), and the Transformer with its batch_first flaw
    experiment.py  train one (family, seed), time each epoch -> TrainRecord
    probes.py      gradient norm by distance; recall-k-steps-back accuracy
    rundir.py      save / load the output directory
    summary.py     results table and claims, derived from the records
    figures.py     the PNG figures (the only plotting module)
    report.py      report.html (figures embedded) and report.md
    command.py     `python -m profiler train`
"""

from profiler.train.command import train_command

__all__ = ["train_command"]
