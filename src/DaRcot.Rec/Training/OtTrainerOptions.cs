using System.Text.Json.Serialization;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Objectives;

namespace DaRcot.Rec.Training;

/// <summary>How targets pair with inputs during OT training.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PairingMode>))]
public enum PairingMode
{
    /// <summary>Every iteration is paired: the L1 pair term and the contrastive term are used (official default,
    /// pairnum = 10⁷).</summary>
    Paired,

    /// <summary>Paper-faithful unpaired training: targets come from a different batch of the same epoch (batch
    /// (i + n/2) mod n; rolled by one sample when an epoch has a single batch), so no input sees its own target;
    /// the paired terms are dropped. A source whose targets are already decorrelated
    /// (<see cref="ITrainingBatchSource.TargetsDecorrelated"/>) is used as is.</summary>
    Unpaired,

    /// <summary>The official script's "unpaired" setting (pairnum = 0): batches stay paired, only the pair-dependent
    /// terms (L1 and contrastive) are dropped.</summary>
    UnpairedOfficial,

    /// <summary>The first ⌊pairnum / B⌋ iterations of every epoch are paired, the rest unpaired (official
    /// <c>--pairnum</c>, with the official no-shuffle unpaired branch).</summary>
    PartiallyPaired,
}

/// <summary>Optimizer family used for both networks.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OptimizerKind>))]
public enum OptimizerKind
{
    /// <summary>RMSprop with PyTorch defaults (alpha 0.99, eps 1e-8, no momentum), as the official trainer.</summary>
    RMSprop,

    /// <summary>Adam with PyTorch defaults (official <c>--optimizer Adam</c>).</summary>
    Adam,
}

/// <summary>Settings of <see cref="OtTrainer"/>. Defaults are the official trainer's (spec §4–5).</summary>
public sealed record OtTrainerOptions
{
    /// <summary>Number of epochs (official default 200; README 50/55).</summary>
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 200;

    /// <summary>Base learning rate of the potential φ (official 1e-4); the transport network gets
    /// <see cref="TransportLearningRateRatio"/> of it.</summary>
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 1e-4;

    /// <summary>The transport network's learning rate as a fraction of φ's at every epoch (official 0.5: T uses
    /// lr/2).</summary>
    [JsonPropertyName("lr_transport_ratio")] public double TransportLearningRateRatio { get; init; } = 0.5;

    /// <summary>Multiply the learning rates by 0.1 every this many epochs (official default 20; README 15).</summary>
    [JsonPropertyName("step")] public int DecayEvery { get; init; } = 20;

    /// <summary>Optimizer for both networks.</summary>
    [JsonPropertyName("optimizer")] public OptimizerKind Optimizer { get; init; } = OptimizerKind.RMSprop;

    /// <summary>Potential (φ) iterations per transport step; each is two optimizer steps (W-loss, then GP). Official 1.</summary>
    [JsonPropertyName("potential_steps")] public int PotentialSteps { get; init; } = 1;

    /// <summary>Pairing mode.</summary>
    [JsonPropertyName("mode")] public PairingMode Mode { get; init; } = PairingMode.Paired;

    /// <summary>Paired samples per epoch for <see cref="PairingMode.PartiallyPaired"/> (official <c>--pairnum</c>).</summary>
    [JsonPropertyName("pairnum")] public long PairNum { get; init; } = 10_000_000;

    /// <summary>Nominal batch size B used in ⌊pairnum / B⌋; 0 = the size of the first batch of the run (recorded in
    /// checkpoints).</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; }

    /// <summary>Official <c>sigma</c>: weight of the transport cost (and of the contrastive term).</summary>
    [JsonPropertyName("sigma")] public double CostWeight { get; init; } = 1.0;

    /// <summary>Official <c>Sigma</c>: weight of the paired L1 term.</summary>
    [JsonPropertyName("Sigma")] public double PairedWeight { get; init; } = 10000.0;

    /// <summary>Weight of the contrastive term inside sigma·(…) in paired iterations (official 0.1).</summary>
    [JsonPropertyName("contrastive_weight")] public double ContrastiveWeight { get; init; } = 0.1;

    /// <summary>Contrastive form (official element-wise by default).</summary>
    [JsonPropertyName("contrastive_form")] public ContrastiveForm ContrastiveForm { get; init; } = ContrastiveForm.Official;

    /// <summary>Weight λ of the FROT Fourier term (official 1).</summary>
    [JsonPropertyName("fourier_lambda")] public double FourierLambda { get; init; } = 1.0;

    /// <summary>Task ids that use the L2-type Fourier penalty; null = the official rule (id &lt; 3).</summary>
    [JsonPropertyName("l2_task_ids")] public long[]? L2TaskIds { get; init; }

    /// <summary>Gradient-penalty weight (official 10).</summary>
    [JsonPropertyName("gp_lambda")] public double GradientPenaltyWeight { get; init; } = 10.0;

    /// <summary>Seed of the trainer's own random draws (GP α, nothing else); the data source seeds itself.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1;

    /// <summary>Stop after this many global steps in total (null: run all epochs). Counted across resumes.</summary>
    [JsonPropertyName("max_steps")] public long? MaxSteps { get; init; }

    /// <summary>Folder for checkpoints, the loss-history CSV and plot; null = write nothing.</summary>
    [JsonPropertyName("output")] public string? OutputDirectory { get; init; }

    /// <summary>Write a checkpoint every this many steps (0 = only at the end of each epoch and of the run).</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; }

    /// <summary>Also write <c>loss_history.png</c> (the paper's Figure 10 curves) next to the CSV.</summary>
    [JsonPropertyName("plot")] public bool WritePlot { get; init; } = true;

    /// <summary>Ignored (the trainer logs a note when it is set). It used to run each step with the GC paused, a
    /// workaround for TorchSharp 0.107 freeing temporary native scalars mid-call; the library now keeps every scalar
    /// alive across its native calls, so steps need no pause. Kept so that configurations that set it still load.</summary>
    [Obsolete("Ignored: training steps no longer pause the GC (no Scalar temporaries reach native calls).")]
    [JsonPropertyName("guard_native_calls")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? GuardNativeCalls { get; init; }

    /// <summary>Checks every field; throws <see cref="TrainingConfigException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new TrainingConfigException("epochs", $"must be >= 1, got {Epochs}.");
        if (!(LearningRate > 0)) throw new TrainingConfigException("lr", $"must be > 0, got {LearningRate}.");
        if (!(TransportLearningRateRatio > 0) || !double.IsFinite(TransportLearningRateRatio))
            throw new TrainingConfigException("lr_transport_ratio", $"must be a finite number > 0, got {TransportLearningRateRatio}.");
        if (DecayEvery < 1) throw new TrainingConfigException("step", $"must be >= 1, got {DecayEvery}.");
        if (PotentialSteps < 0) throw new TrainingConfigException("potential_steps", $"must be >= 0, got {PotentialSteps}.");
        if (PairNum < 0) throw new TrainingConfigException("pairnum", $"must be >= 0, got {PairNum}.");
        if (BatchSize < 0) throw new TrainingConfigException("batch_size", $"must be >= 0, got {BatchSize}.");
        if (CheckpointEvery < 0) throw new TrainingConfigException("checkpoint_every", $"must be >= 0, got {CheckpointEvery}.");
        if (MaxSteps is < 0) throw new TrainingConfigException("max_steps", $"must be >= 0, got {MaxSteps}.");
    }

    /// <summary>The official learning rate of φ at 1-based <paramref name="epoch"/>: lr·0.1^⌊(epoch−1)/step⌋.</summary>
    public double PotentialLearningRate(int epoch) => LearningRate * Math.Pow(0.1, (epoch - 1) / DecayEvery);

    /// <summary>The transport network's learning rate at <paramref name="epoch"/>: φ's times
    /// <see cref="TransportLearningRateRatio"/> (officially half of φ's). The trainer uses exactly this.</summary>
    public double TransportLearningRate(int epoch) => PotentialLearningRate(epoch) * TransportLearningRateRatio;
}
