using System.Text.Json;
using System.Text.Json.Nodes;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>The configuration read back from official checkpoints equals the one the official code was built with
/// (the fixtures' case.json), and the network it describes loads the weights strictly.</summary>
public sealed class CheckpointConfigInferenceTests
{
    [SkippableTheory]
    [InlineData("restormer_tiny_withbias", "restormer")]
    [InlineData("restormer_tiny_biasfree", "restormer")]
    [InlineData("nafnet_tiny", "nafnet")]
    public void The_inferred_config_is_the_official_one_and_loads_the_weights_strictly(string name, string arch)
    {
        var weights = Fixtures.Path("parity", name, "weights.pth");
        var official = JsonNode.Parse(File.ReadAllText(Fixtures.Path("parity", name, "case.json")))!["config"]!.AsObject();
        var info = CheckpointReader.Inspect(weights);
        var container = info.Containers.Single(c => c.Key == info.DefaultContainer);
        var inferred = CheckpointConfigInference.Infer(CheckpointArchitecture.Infer(container.Tensors.Select(t => t.Name))!, container.Tensors);
        Assert.NotNull(inferred);
        foreach (var (key, value) in official)
            Assert.True(JsonNode.DeepEquals(value, inferred[key]), $"{key}: official {value?.ToJsonString()}, inferred {inferred[key]?.ToJsonString()}");

        using var restorer = Restorer.Load(arch, inferred.ToJsonString(), weights);
        Assert.Equal(arch, restorer.Info.Arch);
    }

    [SkippableFact]
    public void Weights_of_another_size_without_a_config_say_that_the_config_is_missing()
    {
        var weights = Fixtures.Path("parity", "restormer_tiny_withbias", "weights.pth");
        var e = Assert.Throws<StateDictMismatchException>(() => Restorer.Load("restormer", null, weights));
        Assert.StartsWith("No configuration was given, so the official default 'restormer' was built", e.Message, StringComparison.Ordinal);
        Assert.True(e.MissingKeys.Count > 100);
    }

    [Fact]
    public void Other_architectures_are_not_guessed()
    {
        Assert.Null(CheckpointConfigInference.Infer("mprnet", new[] { new CheckpointTensor("shallow_feat1.0.weight", new long[] { 8, 3, 3, 3 }, "float32") }));
        Assert.Null(CheckpointConfigInference.Infer("nafnet", new[] { new CheckpointTensor("other.weight", new long[] { 1 }, "float32") }));
    }
}
