using System.Text.Json;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Models;
using DaRcot.Rec.Training;

namespace DaRcot.Rec.Tests.Inference;

/// <summary>Configuration JSON errors in the file's own words.</summary>
public sealed class JsonErrorTextTests
{
    private static string Error<T>(string json) =>
        JsonErrorText.Describe(Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<T>(json, ModelFactory.ConfigJsonOptions)));

    [Fact]
    public void A_syntax_error_gives_the_line_without_the_serializer_position_tail()
    {
        var text = Error<OtTrainerOptions>("{\n  \"epochs\": 3,\n  oops\n}");
        Assert.Contains("(line 3)", text);
        Assert.DoesNotContain("BytePositionInLine", text);
        Assert.DoesNotContain("Path:", text);
    }

    [Fact]
    public void Wrong_value_types_are_named_in_words()
    {
        Assert.Equal("'epochs' must be a whole number (line 1).", Error<OtTrainerOptions>("""{"epochs": "many"}"""));
        Assert.Equal("'mode' must be one of Paired, Unpaired, UnpairedOfficial, PartiallyPaired (line 1).", Error<OtTrainerOptions>("""{"mode": "Sideways"}"""));
        Assert.StartsWith("unknown field 'epochz' (line 1); the fields are epochs, lr,", Error<OtTrainerOptions>("""{"epochz": 1}"""));
    }
}
