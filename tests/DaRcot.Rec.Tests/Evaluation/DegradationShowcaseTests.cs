using DaRcot.Rec.Errors;
using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Evaluation;

/// <summary>The all-in-one showcase behind <c>darcot demo</c>, with a model that returns its input unchanged, so
/// every expected value follows from the definition (restored = degraded).</summary>
public sealed class DegradationShowcaseTests
{
    private sealed class Identity() : nn.Module<Tensor, Tensor>("identity")
    {
        public override Tensor forward(Tensor input) => input.alias();
    }

    private static Restorer IdentityRestorer() =>
        new(new Identity(), new ArchInfo("identity", 1, DaRcot.Rec.Imaging.PadMode.Zero, null, 3, 3, new object()), ownsModel: true);

    [Fact]
    public void An_identity_model_gains_nothing_and_the_grid_is_degraded_restored_clean_per_task()
    {
        using var restorer = IdentityRestorer();
        using var clean = rand(new long[] { 1, 3, 24, 20 }, generator: new Generator(5));
        var tasks = new[] { "denoise_25", "dehaze" };
        using var result = DegradationShowcase.Run(restorer, clean, tasks, seed: 3);

        Assert.Equal(tasks, result.Rows.Select(r => r.Task));
        foreach (var row in result.Rows)
        {
            Assert.Equal(row.DegradedPsnr, row.RestoredPsnr);
            Assert.Equal(row.DegradedSsim, row.RestoredSsim);
            Assert.Equal(0.0, row.PsnrGain);
            Assert.True(row.DegradedPsnr is > 5 and < 60, $"{row.Task}: {row.DegradedPsnr} dB");
        }

        // 2 rows of 24 with one 4-pixel gap; 3 columns of 20 with two gaps.
        Assert.Equal(new long[] { 1, 3, 2 * 24 + 4, 3 * 20 + 2 * 4 }, result.Grid.shape);
        // Gaps are white; the third column of each row is the clean image (8-bit quantised); the first two are equal.
        Assert.Equal(1.0f, result.Grid[.., .., 24..28, ..].min().item<float>());
        Assert.Equal(1.0f, result.Grid[.., .., .., 20..24].min().item<float>());
        using var quantised = EvaluationRunner.Quantize8(clean);
        Assert.True(result.Grid[.., .., 0..24, 48..68].allclose(quantised, rtol: 0, atol: 0));
        Assert.True(result.Grid[.., .., 28..52, 48..68].allclose(quantised, rtol: 0, atol: 0));
        Assert.True(result.Grid[.., .., 0..24, 0..20].allclose(result.Grid[.., .., 0..24, 24..44], rtol: 0, atol: 0));
    }

    [Fact]
    public void The_same_seed_gives_the_same_degradations()
    {
        using var restorer = IdentityRestorer();
        using var clean = rand(new long[] { 1, 3, 16, 16 }, generator: new Generator(6));
        using var a = DegradationShowcase.Run(restorer, clean, new[] { "denoise_25" }, seed: 11);
        using var b = DegradationShowcase.Run(restorer, clean, new[] { "denoise_25" }, seed: 11);
        using var c = DegradationShowcase.Run(restorer, clean, new[] { "denoise_25" }, seed: 12);
        Assert.True(a.Grid.allclose(b.Grid, rtol: 0, atol: 0));
        Assert.False(a.Grid.allclose(c.Grid, rtol: 0, atol: 0));
    }

    [Fact]
    public void An_unknown_degradation_is_refused_before_any_compute()
    {
        using var restorer = IdentityRestorer();
        using var clean = zeros(1, 3, 8, 8);
        var e = Assert.Throws<DaRcotException>(() => DegradationShowcase.Run(restorer, clean, new[] { "denoise_25", "desnow" }));
        Assert.Contains("desnow", e.Message, StringComparison.Ordinal);
    }
}
