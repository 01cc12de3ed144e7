using System.Text.Json;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Backbones;

/// <summary>One folder of ../shared/parity: case.json plus the paths of its weights and tensors.</summary>
internal sealed class ParityCase
{
    public required string Name { get; init; }
    public required string Arch { get; init; }
    public required string ConfigJson { get; init; }
    public required string ContainerKey { get; init; }
    public required double AbsTol { get; init; }
    public required long ParamCount { get; init; }
    public required int StateDictKeys { get; init; }
    public required string WeightsPath { get; init; }
    public required string TensorsPath { get; init; }

    /// <summary>Reads the case (skips when fixtures are absent).</summary>
    public static ParityCase Load(string name)
    {
        var casePath = Fixtures.Path("parity", name, "case.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(casePath));
        var root = doc.RootElement;
        return new ParityCase
        {
            Name = name,
            Arch = root.GetProperty("arch").GetString()!,
            ConfigJson = root.GetProperty("config").GetRawText(),
            ContainerKey = root.GetProperty("container_key").GetString()!,
            AbsTol = root.GetProperty("abs_tol").GetDouble(),
            ParamCount = root.GetProperty("param_count").GetInt64(),
            StateDictKeys = root.GetProperty("state_dict_keys").GetInt32(),
            WeightsPath = Fixtures.Path("parity", name, "weights.pth"),
            TensorsPath = Fixtures.Path("parity", name, "tensors.safetensors"),
        };
    }
}
