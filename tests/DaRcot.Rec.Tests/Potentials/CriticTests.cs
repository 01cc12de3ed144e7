using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Potentials;

public sealed class CriticTests
{
    [SkippableFact]
    public void OfficialCritic128_HasTheOfficialParameterCount()
    {
        var path = Fixtures.Path("parity", "reference_param_counts.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var expected = doc.RootElement.GetProperty("F_net_patch128_params").GetInt64();
        using var critic = new OfficialCritic(128);
        Assert.Equal(expected, critic.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void OfficialCritic_HasExactlyTheOfficialKeys()
    {
        // spec §3: convs with bias at 0..10, without bias at 12..18, then fc, fc1, fc2 (22 tensors).
        var expected = new List<string>();
        foreach (var i in new[] { 0, 2, 4, 6, 8, 10 }) expected.AddRange(new[] { $"features.{i}.weight", $"features.{i}.bias" });
        foreach (var i in new[] { 12, 14, 16, 18 }) expected.Add($"features.{i}.weight");
        foreach (var n in new[] { "fc", "fc1", "fc2" }) expected.AddRange(new[] { $"{n}.weight", $"{n}.bias" });
        using var critic = new OfficialCritic(32);
        var keys = critic.state_dict().Keys.ToList();
        Assert.Equal(expected.OrderBy(k => k, StringComparer.Ordinal), keys.OrderBy(k => k, StringComparer.Ordinal));
        var sd = critic.state_dict();
        Assert.Equal(new long[] { 128, 512 }, sd["fc.weight"].shape);   // 32²/2 = 512 → 128
        Assert.Equal(new long[] { 64, 3, 5, 5 }, sd["features.0.weight"].shape);
    }

    [Fact]
    public void OfficialCritic_ReturnsOneValuePerSample_AndRefusesOtherSizes()
    {
        using var critic = new OfficialCritic(32);
        using var x = rand(3, 3, 32, 32);
        using var y = critic.call(x);
        Assert.Equal(new long[] { 3 }, y.shape);
        using var wrong = rand(1, 3, 64, 64);
        var e = Assert.Throws<TensorArgumentException>(() => critic.call(wrong));
        Assert.Contains("32", e.Message);
        Assert.Throws<ModelConfigException>(() => new OfficialCritic(48));
    }

    [Fact]
    public void PooledCritic_AcceptsAnySize_AndSharesTheTrunkKeys()
    {
        using var critic = new PooledCritic();
        using var a = rand(2, 3, 32, 32);
        using var b = rand(2, 3, 48, 80);
        Assert.Equal(new long[] { 2 }, critic.call(a).shape);
        Assert.Equal(new long[] { 2 }, critic.call(b).shape);
        Assert.Contains("features.18.weight", critic.state_dict().Keys);
        Assert.Throws<TensorArgumentException>(() => critic.call(rand(1, 3, 16, 16)));
    }
}
