using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Numerics;
using DaRcot.Rec.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Training;

/// <summary>A tiny residual denoiser that exposes a "dense embedding" (its hidden features), so the trainer's
/// contrastive path runs too.</summary>
internal sealed class TinyDenoiser : nn.Module<Tensor, Tensor>, IRecModel
{
    private readonly Conv2d head;
    private readonly Conv2d body;
    private readonly Conv2d tail;

    public TinyDenoiser(int width = 16, long seed = 1) : base("TinyDenoiser")
    {
        head = nn.Conv2d(3, width, 3, padding: 1);
        body = nn.Conv2d(width, width, 3, padding: 1);
        tail = nn.Conv2d(width, 3, 3, padding: 1);
        RegisterComponents();
        TestInit.Reset(this, seed);
        // Start close to the identity map (small correction), as residual restoration networks do.
        using (no_grad())
        {
            using var tenth = 0.1.ToScalar();
            tail.weight!.mul_(tenth);
        }
    }

    public override Tensor forward(Tensor x)
    {
        using var rec = ForwardRec(x);
        return rec.Output.alias();
    }

    public RecOutput ForwardRec(Tensor x, bool keepIntermediates = false)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(head.call(x));
        var f = nn.functional.relu(body.call(h));
        var y = x.Plus(tail.call(f));
        return new RecOutput { Output = y.MoveToOuterDisposeScope(), DenseEmbedding = f.MoveToOuterDisposeScope() };
    }
}

/// <summary>
/// Tests that run the trainer form one collection that xunit runs with nothing else in parallel (they are the
/// heaviest tests; one of them forces collections from another thread on purpose). The helpers here create no
/// Scalar temporaries (see <c>DaRcot.Rec.Numerics.Scalars</c>), so that only the library is under test.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TrainerCollection
{
    public const string Name = "Trainer runs (not parallel)";
}

/// <summary>Deterministic initialisation from a private generator: the global RNG is shared with tests running in
/// parallel, so seeding it does not make a module's initial weights reproducible.</summary>
internal static class TestInit
{
    public static void Reset(nn.Module module, long seed)
    {
        using var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (p.dim() == 1)
            {
                p.zero_();   // biases start at zero
                continue;
            }
            // Weights: Uniform(−1/√fan_in, 1/√fan_in), the scale of the framework default.
            var fanIn = p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            var bound = 1.0 / Math.Sqrt(fanIn);
            using var r = rand(p.shape, generator: g);
            p.copy_(r.Times(2 * bound).Minus(bound));
        }
    }
}

/// <summary>A small critic (any size ≥ 4).</summary>
internal sealed class TinyCritic : nn.Module<Tensor, Tensor>
{
    private static readonly Scalar Slope = Scalars.Constant(0.2);
    private readonly Conv2d c1;
    private readonly Conv2d c2;
    private readonly Linear fc;

    public TinyCritic(long seed = 2) : base("TinyCritic")
    {
        c1 = nn.Conv2d(3, 8, 4, stride: 2, padding: 1);
        c2 = nn.Conv2d(8, 16, 4, stride: 2, padding: 1);
        fc = nn.Linear(16, 1);
        RegisterComponents();
        TestInit.Reset(this, seed);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = c1.call(x).leaky_relu(Slope);
        h = c2.call(h).leaky_relu(Slope).mean(new long[] { 2, 3 });
        return fc.call(h).MoveToOuterDisposeScope();   // [B,1]: the trainer accepts [B] or [B,1]
    }
}

/// <summary>Deterministic random batches per (epoch, index): clean = smooth random image, degraded = clean + noise.
/// Optionally puts a NaN into one batch.</summary>
internal sealed class RandomBatchSource : ITrainingBatchSource
{
    private readonly int batchSize;
    private readonly int size;

    public RandomBatchSource(int batchesPerEpoch = 3, int batchSize = 2, int size = 16)
    {
        BatchesPerEpoch = batchesPerEpoch;
        this.batchSize = batchSize;
        this.size = size;
    }

    public int BatchesPerEpoch { get; }

    /// <summary>(epoch, batch) whose degraded image gets a NaN.</summary>
    public (int Epoch, int Batch)? NaNAt { get; init; }

    public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0)
    {
        for (var b = startBatch; b < BatchesPerEpoch; b++) yield return Build(epoch, b);
    }

    // Built outside the iterator: a dispose scope must not stay open across a yield.
    private TrainingBatch Build(int epoch, int b)
    {
        using var g = new Generator((ulong)(1000 * epoch + b));
        using var scope = NewDisposeScope();
        var clean = nn.functional.interpolate(rand(new long[] { batchSize, 3, size / 4, size / 4 }, generator: g),
            new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false);
        var noisy = clean.Plus(randn(clean.shape, generator: g).Times(0.1));
        if (NaNAt == (epoch, b)) noisy[0, 0, 0, 0] = float.NaN;
        var ids = Enumerable.Range(0, batchSize).Select(i => (long)((b + i) % 2 == 0 ? 1 : 3)).ToArray();
        return new TrainingBatch(noisy.MoveToOuterDisposeScope(), clean.MoveToOuterDisposeScope(), ids);
    }
}
