using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Rec.Tests.Training;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Evaluation;

/// <summary>The REC plug-in ablation at toy size: structure, determinism and the summary arithmetic.</summary>
[Collection(TrainerCollection.Name)]
public sealed class RecAblationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-ablation-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Photo(string name, int seed)
    {
        var path = Path.Combine(_dir, name);
        using var image = rand(new long[] { 1, 3, 40, 40 }, generator: new TorchSharp.torch.Generator((ulong)seed));
        ImageTensor.SavePng(image, path);
        return path;
    }

    private static RecAblationOptions Tiny => new()
    {
        BackboneConfig = """{"width": 4, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1], "dec_blk_nums": [1, 1, 1]}""",
        RecConfig = """{"regm_width": 2, "regm_blocks": [1, 1, 1, 1], "regm_heads": [1, 1, 1, 1]}""",
        Tasks = new[] { "denoise_25", "lowlight" },
        Seeds = new long[] { 1, 2 },
        Steps = 2, BatchSize = 2, PatchSize = 32, EvalCrops = 2, EvalCropSize = 32,
    };

    [Fact]
    public void Every_seed_variant_and_task_is_scored_and_a_rerun_gives_the_same_numbers()
    {
        var training = new[] { Photo("a.png", 1), Photo("b.png", 2) };
        var heldOut = new[] { Photo("held.png", 3) };
        var first = RecAblation.Run(Tiny, training, heldOut);
        Assert.Equal(2 * 2 * 2, first.Count);
        Assert.Equal(RecAblation.Variants, first.Select(r => r.Variant).Distinct());
        Assert.All(first, r => Assert.True(double.IsFinite(r.Psnr) && r.Psnr > 0, $"{r.Variant} {r.Seed} {r.Task}: {r.Psnr}"));

        var again = RecAblation.Run(Tiny, training, heldOut);
        Assert.Equal(first.Select(r => r.Psnr), again.Select(r => r.Psnr));

        var csv = RecAblation.ToCsv(first).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("variant,seed,task,psnr,train_seconds", csv[0]);
        Assert.Equal(9, csv.Length);
    }

    [Fact]
    public void The_summary_is_the_mean_and_sample_standard_deviation_over_seeds()
    {
        // By hand: 20 and 22 → mean 21, sample std √((1 + 1) / 1) = 1.41421.
        var summary = RecAblation.Summarize(new[]
        {
            new AblationResult("backbone", 1, "denoise_25", 20, 1), new AblationResult("backbone", 2, "denoise_25", 22, 1),
        });
        var row = Assert.Single(summary);
        Assert.Equal(21, row.Mean, 12);
        Assert.Equal(Math.Sqrt(2), row.Std, 12);
        Assert.Equal(2, row.Runs);
    }
}
