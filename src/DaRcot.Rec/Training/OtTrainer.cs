using System.Diagnostics;
using System.Text.Json.Nodes;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Objectives;
using DaRcot.Rec.Training.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Training;

/// <summary>
/// Optimal-transport trainer of DA-RCOT (spec §4–5): a transport network T (any image-to-image module; when it
/// implements <see cref="IRecModel"/>, its dense residual embedding feeds the contrastive term) against a potential
/// φ (returning [B] or [B,1]). Each iteration runs the official order: k potential iterations, each two optimizer
/// steps (Wasserstein loss, then the WGAN gradient penalty), then one transport step.
/// </summary>
/// <remarks>
/// <para>Non-finite losses: before each backward pass every term is checked; a NaN/∞ term raises
/// <see cref="NonFiniteLossException"/> naming it, that update is skipped and nothing is written (earlier updates of
/// the same iteration, e.g. the φ step before a failing T step, have already been applied in memory; the checkpoint
/// on disk stays the last good one).</para>
/// <para>Cancellation is checked between steps; the trainer then writes a checkpoint of the completed steps (when
/// an output folder is set) and throws <see cref="OperationCanceledException"/>.</para>
/// <para>Exact resume: the only trainer-side randomness (GP α) is drawn from a generator re-seeded from
/// (seed, step) at every step, the data source is deterministic per (epoch, batch index), and the optimizer states
/// are checkpointed, so a resumed run reproduces an uninterrupted one.</para>
/// <para>Data-parallel training: with an <see cref="IDataParallelCommunicator"/> of more than one rank, every rank
/// trains on its own rows of each global batch (a source that yields shards, see <see cref="TrainingBatch.GlobalCount"/>),
/// the gradients of both networks are averaged over the ranks before each optimizer step (one all-reduce per step),
/// and every loss term is made to give the gradient of the global batch exactly (batch means weighted by the shard's
/// share, the FROT Fourier sum scaled by the rank count, the batch RMS and the contrastive term from all-reduced
/// statistics / gathered embeddings), so N ranks × B/N rows follow the same trajectory as one process × B rows up to
/// float32 rounding. Non-finite values and cancellation are decided on all-reduced values, so all ranks stop together;
/// only rank 0 logs and writes checkpoints.</para>
/// </remarks>
public sealed class OtTrainer : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> transport;
    private readonly nn.Module<Tensor, Tensor> potential;
    private readonly OtTrainerOptions options;
    private readonly ILogger logger;
    private readonly OptimizerHelper transportOptimizer;
    private readonly OptimizerHelper potentialOptimizer;
    private readonly TransportObjective objective;
    private readonly GradientPenalty gradientPenalty;
    private readonly Generator generator;
    private readonly IDataParallelCommunicator communicator;
    private readonly GradientExchange exchange;
    private bool weightsSynchronised;
    private TrainingPosition position;

    /// <summary>Creates a trainer; the optimizers are built here over all parameters of both networks.</summary>
    /// <param name="transport">T. Its device is where batches are moved.</param>
    /// <param name="potential">φ, on the same device.</param>
    /// <param name="options">Options (validated here).</param>
    /// <param name="logger">Logger (null: none).</param>
    /// <param name="runConfig">Optional caller configuration stored verbatim in every checkpoint.</param>
    /// <param name="communicator">Data-parallel job this process is a rank of (null: a single process). With more than
    /// one rank, the batch source must give this rank's shard of each global batch, and only rank 0 logs and writes.</param>
    public OtTrainer(nn.Module<Tensor, Tensor> transport, nn.Module<Tensor, Tensor> potential, OtTrainerOptions options,
        ILogger? logger = null, JsonNode? runConfig = null, IDataParallelCommunicator? communicator = null)
    {
        this.transport = transport ?? throw new ArgumentNullException(nameof(transport));
        this.potential = potential ?? throw new ArgumentNullException(nameof(potential));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        this.communicator = communicator ?? SingleProcessCommunicator.Instance;
        exchange = new GradientExchange(this.communicator);
        // Rank 0 alone logs: the others would only repeat it.
        this.logger = this.communicator.Rank == 0 ? logger ?? NullLogger.Instance : NullLogger.Instance;
        if (this.communicator.Size > 1 && options.BatchSize > 0) DataShard.EnsureDivides(options.BatchSize, this.communicator.Size);
        RunConfig = runConfig;
#pragma warning disable CS0618 // Read only to tell the user that it no longer does anything.
        if (options.GuardNativeCalls is not null)
            this.logger.LogInformation("Option guard_native_calls is ignored: training steps no longer need the GC paused (the library keeps every native scalar alive).");
#pragma warning restore CS0618

        var lrPhi = options.PotentialLearningRate(1);
        var lrT = options.TransportLearningRate(1);
        if (options.Optimizer == OptimizerKind.Adam)
        {
            transportOptimizer = new ScalarSafeAdam(transport.parameters(), lr: lrT);
            potentialOptimizer = new ScalarSafeAdam(potential.parameters(), lr: lrPhi);
        }
        else
        {
            // PyTorch RMSprop defaults: alpha 0.99, eps 1e-8, no momentum, not centered.
            transportOptimizer = new ScalarSafeRmsProp(transport.parameters(), lr: lrT, alpha: 0.99, eps: 1e-8);
            potentialOptimizer = new ScalarSafeRmsProp(potential.parameters(), lr: lrPhi, alpha: 0.99, eps: 1e-8);
        }

        var l2Ids = options.L2TaskIds;
        objective = new TransportObjective
        {
            Cost = new FrotCost
            {
                Lambda = options.FourierLambda,
                UsesL2 = l2Ids is null ? FrotCost.OfficialUsesL2 : id => Array.IndexOf(l2Ids, id) >= 0,
            },
            Contrastive = new ContrastiveLoss { Form = options.ContrastiveForm },
            CostWeight = options.CostWeight,
            PairedWeight = options.PairedWeight,
            ContrastiveWeight = options.ContrastiveWeight,
        };
        gradientPenalty = new GradientPenalty { Lambda = options.GradientPenaltyWeight };
        generator = new Generator((ulong)options.Seed);
        position = new TrainingPosition { Seed = options.Seed };
    }

    /// <summary>The options.</summary>
    public OtTrainerOptions Options => options;

    /// <summary>The caller's configuration stored in checkpoints.</summary>
    public JsonNode? RunConfig { get; }

    /// <summary>Where the run stands (steps done, next epoch and batch).</summary>
    public TrainingPosition Position => position;

    /// <summary>The data-parallel job (a single process by default).</summary>
    public IDataParallelCommunicator Communicator => communicator;

    /// <summary>Time spent in steps and, within them, in the data-parallel exchange, since this trainer was created.</summary>
    public StepTiming Timing { get; private set; } = new();

    /// <summary><see cref="Timing"/> without the first step of each <see cref="Train"/> call, which also pays one-time
    /// costs (first-use kernel checks, allocator warm-up): the steady-state figures.</summary>
    public StepTiming SteadyTiming { get; private set; } = new();

    /// <summary>Every step so far (restored on resume).</summary>
    public LossHistory History { get; private set; } = new();

    /// <summary>Path of the checkpoint in the output folder, or null without one.</summary>
    public string? CheckpointPath => options.OutputDirectory is null ? null : Path.Combine(options.OutputDirectory, TrainingCheckpoint.DefaultFileName);

    /// <summary>Loads a checkpoint written by this trainer (weights, optimizer states, history, position); the next
    /// <see cref="Train"/> continues exactly where it stopped.</summary>
    public void Resume(string checkpointPath)
    {
        var p = TrainingCheckpoint.Read(checkpointPath, transport, potential, transportOptimizer, potentialOptimizer, out var history);
        History = history;
        History.TruncateAfter(p.Step);
        position = p with { Seed = options.Seed, Options = null, RunConfig = null };
        logger.LogInformation("Resumed from {Path} at step {Step} (epoch {Epoch}, batch {Batch}).", checkpointPath, p.Step, p.Epoch, p.NextBatch);
    }

    /// <summary>Writes a checkpoint of the current state now (atomically), with the CSV and plot beside it.</summary>
    /// <exception cref="NonFiniteStateException">A weight or optimizer-state tensor is NaN/∞; nothing was written, so the
    /// checkpoint already on disk (the last finite state) is kept.</exception>
    public string SaveCheckpoint(string? path = null)
    {
        path ??= CheckpointPath ?? throw new InvalidOperationException("No checkpoint path: set OtTrainerOptions.OutputDirectory or pass a path.");
        // Every rank holds the same state, so every rank reaches the same verdict here.
        EnsureFiniteState();
        if (communicator.Rank != 0) return path;
        var full = position with
        {
            TransportType = transport.GetType().FullName ?? transport.GetType().Name,
            PotentialType = potential.GetType().FullName ?? potential.GetType().Name,
            Options = options,
            RunConfig = RunConfig?.DeepClone(),
        };
        TrainingCheckpoint.Write(path, full, transport, potential, transportOptimizer, potentialOptimizer, History);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        History.WriteCsv(Path.Combine(dir, "loss_history.csv"));
        if (options.WritePlot && History.Rows.Count > 0)
        {
            try
            {
                History.WritePlot(Path.Combine(dir, "loss_history.png"));
                History.WritePlot(Path.Combine(dir, "loss_curves_normalized.png"), normalized: true);
            }
            catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or InvalidOperationException)
            {
                // The plot needs SkiaSharp's native library; the CSV holds the same data, so training goes on.
                logger.LogWarning("Loss plot not written: {Reason}", e.Message);
            }
        }
        logger.LogInformation("Checkpoint written at step {Step}: {Path}", position.Step, path);
        return path;
    }

    /// <summary>Runs training from the current position until all epochs (or <see cref="OtTrainerOptions.MaxSteps"/>)
    /// are done. Writes checkpoints every <see cref="OtTrainerOptions.CheckpointEvery"/> steps (or per epoch) and at
    /// the end when an output folder is set.</summary>
    /// <exception cref="NonFiniteLossException">A loss term was NaN/∞ (nothing written for that step).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; a checkpoint of the completed steps was written.</exception>
    public LossHistory Train(ITrainingBatchSource source, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return TrainUntilDone(source, progress, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || jobCancelled)
        {
            // The batch source may observe the same token and stop before the trainer's own check; sources and the
            // trainer stop only between steps, so this state is consistent: checkpoint it like any cancellation.
            if (CheckpointPath is not null && lastSavedStep != position.Step) SaveCheckpoint();
            throw;
        }
    }

    // The step of the last checkpoint written by the current Train call (-1: none yet).
    private long lastSavedStep = -1;

    // Data-parallel: some rank was cancelled; every rank stops after the same step.
    private bool jobCancelled;

    private LossHistory TrainUntilDone(ITrainingBatchSource source, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var perEpoch = source.BatchesPerEpoch;
        if (perEpoch < 1) throw new ArgumentException("The batch source has no batches.", nameof(source));
        var decorrelated = source.TargetsDecorrelated;
        if (decorrelated && options.Mode is PairingMode.Paired or PairingMode.PartiallyPaired)
            throw new TrainingConfigException("mode",
                $"{options.Mode} compares each restored image with its own target (L1 ×{options.PairedWeight:G}, contrastive term), " +
                "but the batch source gives targets from different images (unpaired sampling); use Unpaired or UnpairedOfficial, or turn the source's unpairing off.");
        var total = (long)options.Epochs * perEpoch;
        if (options.MaxSteps is long max) total = Math.Min(total, max);
        lastSavedStep = -1;
        jobCancelled = false;
        var stepsThisCall = 0;
        var distributed = communicator.Size > 1;
        if (distributed)
        {
            // The checkpoint (or the configuration) holds the global batch: N ranks must split it evenly.
            var global = options.BatchSize > 0 ? options.BatchSize : position.NominalBatchSize;
            if (global > 0) DataShard.EnsureDivides(global, communicator.Size);
            if (!weightsSynchronised)
            {
                // Identical seeding already gives identical weights; rank 0's are sent anyway, so that no rank can
                // start from anything else (a different libtorch build, a stray random draw).
                exchange.BroadcastFromRankZero(StateTensors(transport).Concat(StateTensors(potential)).ToList());
                weightsSynchronised = true;
            }
            logger.LogInformation("Data-parallel training on {Ranks} ranks: each takes 1/{Ranks} of every batch; gradients are averaged before every optimizer step.", communicator.Size, communicator.Size);
        }

        if (position.NextBatch >= perEpoch) position = position with { Epoch = position.Epoch + 1, NextBatch = 0 };
        while (position.Epoch <= options.Epochs && !StepLimitReached())
        {
            var epoch = position.Epoch;
            var lrPhi = options.PotentialLearningRate(epoch);
            SetLearningRate(potentialOptimizer, lrPhi);
            var lrT = options.TransportLearningRate(epoch);
            SetLearningRate(transportOptimizer, lrT);
            logger.LogInformation("Epoch {Epoch}: lr(phi) = {Lr}, lr(T) = {LrT}", epoch, lrPhi, lrT);

            // B in ⌊pairnum / B⌋: the configured size, else the one recorded with the run (so a resume that starts on
            // a short last batch still uses the nominal size), else the first batch seen.
            var nominalBatch = options.BatchSize > 0 ? options.BatchSize : position.NominalBatchSize;
            // A source that already decorrelates its targets is used as is: shifting them again would only cost a
            // second enumeration of the data.
            using var targets = options.Mode == PairingMode.Unpaired && !decorrelated ? new ShiftedTargets(source, epoch, position.NextBatch, perEpoch) : null;
            foreach (var batch in source.GetBatches(epoch, position.NextBatch))
            {
                using (batch)
                {
                    // Stopping here throws; Train writes the checkpoint of the completed steps. Data-parallel ranks stop
                    // on the all-reduced flag instead (after the step in which any rank saw it), all at the same step.
                    if (!distributed) cancellationToken.ThrowIfCancellationRequested();
                    if (StepLimitReached()) break;
                    if (nominalBatch == 0)
                    {
                        nominalBatch = batch.GlobalCount;
                        position = position with { NominalBatchSize = nominalBatch };
                        if (distributed) DataShard.EnsureDivides(nominalBatch, communicator.Size);
                    }
                    if (distributed && batch.GlobalCount < communicator.Size)
                    {
                        // A short last batch with fewer rows than ranks: some rank has none, so nobody trains on it.
                        logger.LogWarning("Batch {Batch} of epoch {Epoch} has {Rows} rows for {Ranks} ranks; skipped.", position.NextBatch, epoch, batch.GlobalCount, communicator.Size);
                        position = position with { NextBatch = position.NextBatch + 1 };
                        continue;
                    }
                    var iteration = position.NextBatch;
                    var paired = options.Mode switch
                    {
                        PairingMode.Paired => true,
                        PairingMode.PartiallyPaired => iteration < options.PairNum / nominalBatch,
                        _ => false,
                    };
                    using var other = targets?.Next(batch);
                    var sw = Stopwatch.StartNew();
                    var exchanged = exchange.Elapsed;
                    var losses = RunStep(batch, other, paired, epoch, iteration, position.Step + 1, distributed && cancellationToken.IsCancellationRequested);
                    sw.Stop();
                    var exchangeSeconds = (exchange.Elapsed - exchanged).TotalSeconds;
                    var phases = lastPhases;
                    Timing = Timing.Add(sw.Elapsed.TotalSeconds, exchangeSeconds, batch.GlobalCount, phases);
                    if (stepsThisCall++ > 0) SteadyTiming = SteadyTiming.Add(sw.Elapsed.TotalSeconds, exchangeSeconds, batch.GlobalCount, phases);
                    position = position with { Step = position.Step + 1, NextBatch = iteration + 1 };
                    History.Add(losses);
                    string? saved = null;
                    if (CheckpointPath is not null && options.CheckpointEvery > 0 && position.Step % options.CheckpointEvery == 0)
                    {
                        saved = SaveCheckpoint();
                        lastSavedStep = position.Step;
                    }
                    progress?.Report(new TrainingProgress
                    {
                        Losses = losses,
                        TotalSteps = total,
                        PotentialLearningRate = lrPhi,
                        TransportLearningRate = lrT,
                        ImagesPerSecond = batch.GlobalCount / Math.Max(sw.Elapsed.TotalSeconds, 1e-9),
                        StepSeconds = sw.Elapsed.TotalSeconds,
                        AllReduceSeconds = exchangeSeconds,
                        Phases = phases,
                        CheckpointWritten = saved,
                    });
                    if (jobCancelled) throw new OperationCanceledException("A rank of the data-parallel job was cancelled.");
                }
            }
            if (StepLimitReached() && position.NextBatch < perEpoch) break;
            position = position with { Epoch = epoch + 1, NextBatch = 0 };
            if (CheckpointPath is not null && options.CheckpointEvery == 0 && epoch < options.Epochs)
            {
                SaveCheckpoint();
                lastSavedStep = position.Step;
            }
        }
        if (CheckpointPath is not null && lastSavedStep != position.Step) SaveCheckpoint();
        if (distributed && SteadyTiming.Steps > 0)
            logger.LogInformation("Data-parallel: {Ranks} ranks, {Images:F2} images/s, all-reduce {Share:P1} of the step time (steps after the first).",
                communicator.Size, SteadyTiming.ImagesPerSecond, SteadyTiming.AllReduceShare);
        return History;
    }

    // Floating-point weights and buffers, in a fixed order (the same on every rank).
    private static IEnumerable<Tensor> StateTensors(nn.Module module) =>
        module.parameters().Cast<Tensor>().Concat(module.buffers()).Where(t => t.is_floating_point());

    private void EnsureFiniteState()
    {
        var checks = new (Func<string?> Find, string What)[]
        {
            (() => FiniteState.FirstNonFiniteParameter(transport), "weight of the transport network"),
            (() => FiniteState.FirstNonFiniteParameter(potential), "weight of the potential network"),
            (() => FiniteState.FirstNonFiniteOptimizerState(transportOptimizer), "optimizer state of the transport network"),
            (() => FiniteState.FirstNonFiniteOptimizerState(potentialOptimizer), "optimizer state of the potential network"),
        };
        foreach (var (find, what) in checks)
            if (find() is { } name)
                throw new NonFiniteStateException(what, name, position.Step, "no checkpoint was written, so the one already on disk (the last finite state) is kept.");
    }

    private bool StepLimitReached() => options.MaxSteps is long max && position.Step >= max;

    /// <summary>One official iteration on one batch (data-parallel: on this rank's shard of it); returns its losses
    /// (data-parallel: those of the global batch).</summary>
    // The phase split of the last RunStep (read by the loop right after it).
    private StepPhases lastPhases = new();

    private StepLosses RunStep(TrainingBatch batch, Tensor? otherTargets, bool paired, int epoch, int iteration, long step, bool cancelRequested)
    {
        using var scope = NewDisposeScope();
        var clock = new PhaseClock();
        var device = FirstDevice(transport);
        var type = FirstType(transport);
        if (batch.Degraded.dim() != 4 || !batch.Degraded.shape.SequenceEqual(batch.Target.shape) || batch.Degraded.shape[0] != batch.Count)
            throw new TensorArgumentException("batch", $"degraded [{string.Join(",", batch.Degraded.shape)}], target [{string.Join(",", batch.Target.shape)}] and {batch.Count} task ids do not match.");
        // Batches come in float32; a network trained in float64 gets them in float64 (exact).
        var x = batch.Degraded.to(type).to(device);
        var y = batch.Target.to(type).to(device);
        var yPotential = otherTargets?.to(type).to(device) ?? y;
        // α of the gradient penalty depends only on (seed, step): exact resume needs no generator state.
        generator.manual_seed(unchecked(options.Seed * 1_000_003L + step));

        var distributed = communicator.Size > 1;
        var shard = new DataShard(batch.GlobalOffset, batch.Count, batch.GlobalCount);
        // A batch mean over this shard enters the rank-averaged gradient with weight N·n/B (1 for equal shards).
        var meanWeight = communicator.Size * shard.Fraction;
        var potentialParameters = distributed ? potential.parameters().Cast<Tensor>().ToList() : null;

        double wLoss = double.NaN, gp = double.NaN;
        for (var k = 0; k < options.PotentialSteps; k++)
        {
            using var inner = NewDisposeScope();
            transport.eval();
            potential.train();
            Tensor restoredNoGrad;
            using (no_grad()) restoredNoGrad = ForwardTransport(x, out _);
            potentialOptimizer.zero_grad();
            var w = TransportObjective.PotentialLoss(potential.call(yPotential), potential.call(restoredNoGrad));
            clock.Lap(ref clock.PotentialForward);
            wLoss = Backward("potential_loss", w, meanWeight, potentialParameters, step);
            clock.Lap(ref clock.PotentialBackward);
            EnsureFiniteGradients(potential, "potential network", step);
            potentialOptimizer.step();

            potentialOptimizer.zero_grad();
            clock.Lap(ref clock.PotentialOptimizer);
            // α is drawn for the global batch and this shard's rows are taken, so N ranks use what one process uses.
            var alpha = rand(new long[] { shard.GlobalCount, 1, 1, 1 }, dtype: yPotential.dtype, device: yPotential.device, generator: generator)
                .narrow(0, shard.Offset, shard.Count);
            var g = gradientPenalty.Compute(potential, yPotential, restoredNoGrad, alpha: alpha);
            clock.Lap(ref clock.PotentialForward);
            gp = Backward("gradient_penalty", g, meanWeight, potentialParameters, step);
            clock.Lap(ref clock.PotentialBackward);
            EnsureFiniteGradients(potential, "potential network", step);
            potentialOptimizer.step();
            potentialOptimizer.zero_grad();
            clock.Lap(ref clock.PotentialOptimizer);
        }

        // Transport step: φ frozen (no gradient into its parameters), T in training mode.
        SetRequiresGrad(potential, false);
        try
        {
            transport.train();
            transportOptimizer.zero_grad();
            var restored = ForwardTransport(x, out var embedding);
            Dictionary<string, double> values;
            if (!distributed)
            {
                using var terms = objective.Compute(potential.call(restored), x, restored, paired ? y : null, embedding, batch.TaskIds, paired);
                values = new Dictionary<string, double>();
                foreach (var (name, value) in terms.Named()) values[name] = Finite(name, value, step);
                clock.Lap(ref clock.TransportForward);
                terms.Total.backward();
            }
            else
            {
                clock.Lap(ref clock.TransportForward);
                values = ShardedTransportBackward(potential.call(restored), x, restored, y, embedding, batch.TaskIds, paired, shard, meanWeight, step, cancelRequested);
            }
            clock.Lap(ref clock.TransportBackward);
            EnsureFiniteGradients(transport, "transport network", step);
            transportOptimizer.step();
            transportOptimizer.zero_grad();
            clock.Lap(ref clock.TransportOptimizer);
            lastPhases = clock.Result();
            return new StepLosses
            {
                Step = step,
                Epoch = epoch,
                Iteration = iteration,
                Paired = paired,
                PotentialLoss = wLoss,
                GradientPenalty = gp,
                TransportLoss = values["transport_loss"],
                PotentialOfRestored = values["potential_restored"],
                Rms = values["rms"],
                Fourier = values["fourier"],
                Contrastive = values.GetValueOrDefault("contrastive", 0.0),
                L1 = values.GetValueOrDefault("l1", double.NaN),
            };
        }
        finally
        {
            SetRequiresGrad(potential, true);
        }
    }

    // Single process: checks the loss, then back-propagates it. Data-parallel: back-propagates this shard's weighted
    // loss, averages gradients and loss over the ranks in one all-reduce, then checks the global loss (the same value
    // on every rank, so all ranks throw together or none does).
    private double Backward(string term, Tensor loss, double weight, IReadOnlyList<Tensor>? parameters, long step)
    {
        if (parameters is null)
        {
            var v = Finite(term, loss, step);
            loss.backward();
            return v;
        }
        var local = Value(loss) * weight;
        (weight == 1.0 ? loss : loss.Times(weight)).backward();
        var mean = exchange.AllReduceMean(parameters, [local])[0];
        if (!double.IsFinite(mean)) throw new NonFiniteLossException(term, step, mean);
        return mean;
    }

    /// <summary>
    /// The transport loss of the global batch, back-propagated from this rank's shard. Each rank back-propagates a
    /// surrogate whose gradient, averaged over the ranks, is the gradient of the single-process loss on the whole batch:
    /// batch means (φ(ŷ), L1) weighted by N·n/B; the Fourier term, a sum over samples, times N; the batch RMS √(S/E)
    /// through N·S_r/(2·rms·E) with S and E all-reduced; the contrastive term (pairs across ranks) computed on every
    /// rank over all embeddings, gathered, with only this rank's rows carrying gradient, times N. The returned terms
    /// are the global ones; the all-reduce that averages the gradients carries them and the cancellation flag.
    /// </summary>
    private Dictionary<string, double> ShardedTransportBackward(Tensor potentialOfRestored, Tensor x, Tensor restored, Tensor y, Tensor? embedding,
        long[] taskIds, bool paired, DataShard shard, double meanWeight, long step, bool cancelRequested)
    {
        double n = communicator.Size;
        // Without the embedding the objective leaves the contrastive term out; it is added below over the whole batch.
        using var terms = objective.Compute(potentialOfRestored, x, restored, paired ? y : null, null, taskIds, paired);
        var squares = (x - restored).Square().sum();
        var stats = exchange.AllReduceSum([Value(squares), x.numel()]);
        var rms = Math.Sqrt(stats[0] / stats[1]);
        var fourier = Value(terms.Fourier);
        var phi = Value(terms.PotentialOfRestored);
        var inner = squares.Times(n / (2 * rms * stats[1])).Plus(terms.Fourier.Times(n * objective.Cost.Lambda));
        var innerValue = rms + objective.Cost.Lambda * n * fourier;
        double? contrastive = null;
        if (paired && embedding is not null)
        {
            var rows = embedding.reshape(shard.Count, -1);
            // The task ids ride along as one more column (small integers are exact in float32).
            var ids = tensor(taskIds, device: rows.device).to(rows.dtype).reshape(shard.Count, 1);
            var gathered = exchange.AllGatherRows(cat([rows.detach(), ids], 1), shard);
            var width = rows.shape[1];
            var allIds = gathered.narrow(1, width, 1).reshape(-1).to(ScalarType.Float64).cpu().data<double>().ToArray().Select(v => (long)Math.Round(v)).ToArray();
            var others = gathered.narrow(1, 0, width);
            var parts = new List<Tensor>();
            if (shard.Offset > 0) parts.Add(others.narrow(0, 0, shard.Offset));
            parts.Add(rows);
            var after = shard.GlobalCount - shard.Offset - shard.Count;
            if (after > 0) parts.Add(others.narrow(0, shard.Offset + shard.Count, after));
            var global = objective.Contrastive.Compute(cat(parts, 0), allIds);
            contrastive = Value(global);
            inner = inner.Plus(global.Times(n * objective.ContrastiveWeight));
            innerValue += objective.ContrastiveWeight * contrastive.Value;
        }
        var surrogate = potentialOfRestoredTerm(terms.PotentialOfRestored).Plus(inner.Times(objective.CostWeight));
        var totalValue = -meanWeight * phi + objective.CostWeight * innerValue;
        double? l1 = null;
        if (terms.L1 is not null)
        {
            l1 = meanWeight * Value(terms.L1);
            surrogate = surrogate.Plus(terms.L1.Times(meanWeight * objective.PairedWeight));
            totalValue += objective.PairedWeight * l1.Value;
        }
        surrogate.backward();

        var names = new List<string> { "potential_restored", "rms", "fourier" };
        var local = new List<double> { meanWeight * phi, rms, n * fourier };
        if (contrastive is { } c) { names.Add("contrastive"); local.Add(c); }
        if (l1 is { } l) { names.Add("l1"); local.Add(l); }
        names.Add("transport_loss");
        local.Add(totalValue);
        local.Add(cancelRequested ? 1 : 0);
        var means = exchange.AllReduceMean(transport.parameters().Cast<Tensor>().ToList(), local.ToArray());
        if (means[^1] > 0) jobCancelled = true;
        var values = new Dictionary<string, double>();
        for (var i = 0; i < names.Count; i++)
        {
            if (!double.IsFinite(means[i])) throw new NonFiniteLossException(names[i], step, means[i]);
            values[names[i]] = means[i];
        }
        return values;

        Tensor potentialOfRestoredTerm(Tensor phiMean) => phiMean.Times(-meanWeight);
    }

    private static double Value(Tensor value) => value.detach().cpu().to(ScalarType.Float64).item<double>();

    private Tensor ForwardTransport(Tensor x, out Tensor? embedding)
    {
        if (transport is IRecModel rec)
        {
            var output = rec.ForwardRec(x);
            embedding = output.DenseEmbedding;
            return output.Output;
        }
        embedding = null;
        return transport.call(x);
    }

    // A finite loss can still have a NaN gradient (a defective kernel, a 0·∞ in a custom layer): stop before the
    // optimizer writes it into the weights, so that memory and every checkpoint stay finite.
    private static void EnsureFiniteGradients(nn.Module module, string what, long step)
    {
        if (FiniteState.FirstNonFiniteGradient(module) is { } name)
            throw new NonFiniteStateException($"gradient of the {what}", name, step, "the update was not applied and no checkpoint was written for this step.");
    }

    private static double Finite(string term, Tensor value, long step)
    {
        var v = value.detach().cpu().to(ScalarType.Float64).item<double>();
        if (!double.IsFinite(v)) throw new NonFiniteLossException(term, step, v);
        return v;
    }

    private static ScalarType FirstType(nn.Module module)
    {
        foreach (var p in module.parameters()) if (p.is_floating_point()) return p.dtype;
        return ScalarType.Float32;
    }

    private static Device FirstDevice(nn.Module module)
    {
        foreach (var p in module.parameters()) return p.device;
        return CPU;
    }

    private static void SetRequiresGrad(nn.Module module, bool value)
    {
        foreach (var p in module.parameters()) p.requires_grad = value;
    }

    private static void SetLearningRate(OptimizerHelper optimizer, double lr)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
    }

    /// <summary>Disposes the optimizers and the generator (not the networks).</summary>
    public void Dispose()
    {
        transportOptimizer.Dispose();
        potentialOptimizer.Dispose();
        generator.Dispose();
    }

    /// <summary>Targets for <see cref="PairingMode.Unpaired"/>: batch (i + n/2) mod n of the same epoch, read from a
    /// second enumeration of the source, so inputs never meet their own targets; with a single batch per epoch the
    /// batch's own targets are rolled by one sample instead.</summary>
    private sealed class ShiftedTargets : IDisposable
    {
        private readonly ITrainingBatchSource source;
        private readonly int epoch;
        private readonly int perEpoch;
        private readonly int shift;
        private IEnumerator<TrainingBatch>? cursor;
        private int nextIndex;

        public ShiftedTargets(ITrainingBatchSource source, int epoch, int start, int perEpoch)
        {
            this.source = source;
            this.epoch = epoch;
            this.perEpoch = perEpoch;
            shift = perEpoch / 2;
            nextIndex = (start + shift) % perEpoch;
        }

        /// <summary>Targets for <paramref name="batch"/> (caller disposes).</summary>
        public Tensor Next(TrainingBatch batch)
        {
            // A single batch per epoch: its own targets rolled by one sample (no second enumeration of the source).
            if (perEpoch == 1) return batch.Target.roll(1, 0);
            var count = batch.Count;
            if (cursor is null || !cursor.MoveNext())
            {
                cursor?.Dispose();
                cursor = source.GetBatches(epoch, nextIndex).GetEnumerator();
                if (!cursor.MoveNext()) throw new InvalidOperationException($"The batch source returned no batch at epoch {epoch}, index {nextIndex}.");
            }
            nextIndex = (nextIndex + 1) % perEpoch;
            if (nextIndex == 0)
            {
                // Wrap around at the end of the epoch.
                var last = Take(cursor.Current, count);
                cursor.Dispose();
                cursor = null;
                return last;
            }
            return Take(cursor.Current, count);
        }

        private static Tensor Take(TrainingBatch b, int count)
        {
            using (b)
            {
                using var scope = NewDisposeScope();
                return Fit(b.Target, count).MoveToOuterDisposeScope();
            }
        }

        // Match the input batch size (the last batch of an epoch may be smaller or larger than the target batch).
        private static Tensor Fit(Tensor t, int count)
        {
            var n = t.shape[0];
            if (n == count) return t.clone();
            using Scalar stop = count.ToScalar(), modulus = n.ToScalar();
            var idx = arange(Scalars.Zero, stop, Scalars.One, dtype: ScalarType.Int64, device: t.device).remainder(modulus);
            return t.index_select(0, idx);
        }

        public void Dispose() => cursor?.Dispose();
    }

    // Splits a step's wall time into phases: each Lap adds the time since the previous lap to one phase.
    private sealed class PhaseClock
    {
        private readonly Stopwatch _watch = Stopwatch.StartNew();
        private TimeSpan _last;
        public double PotentialForward, PotentialBackward, PotentialOptimizer, TransportForward, TransportBackward, TransportOptimizer;

        public void Lap(ref double phase)
        {
            var now = _watch.Elapsed;
            phase += (now - _last).TotalSeconds;
            _last = now;
        }

        public StepPhases Result() => new(PotentialForward, PotentialBackward, PotentialOptimizer, TransportForward, TransportBackward, TransportOptimizer);
    }
}
