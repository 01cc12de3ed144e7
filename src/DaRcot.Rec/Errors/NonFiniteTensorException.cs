namespace DaRcot.Rec.Errors;

/// <summary>
/// A tensor that must hold only finite numbers holds NaN or ±∞: a weight of a loaded model, an input image or an
/// output of the network. Nothing is written from it: a NaN weight turns every output into NaN, and an image written
/// from NaN values is silent garbage.
/// </summary>
public sealed class NonFiniteTensorException : DaRcotException
{
    /// <summary>What the tensor is: <c>weight</c>, <c>input</c> or <c>output</c>.</summary>
    public string Role { get; }

    /// <summary>The tensor's name (a state_dict key, <c>input</c>, or an output name such as <c>output</c>).</summary>
    public string TensorName { get; }

    /// <summary>NaN entries.</summary>
    public long NaNCount { get; }

    /// <summary>±∞ entries.</summary>
    public long InfinityCount { get; }

    /// <summary>Creates the exception; <paramref name="where"/> (e.g. the checkpoint file) is named when given.</summary>
    public NonFiniteTensorException(string role, string tensorName, long nanCount, long infinityCount, long total, string? where = null)
        : base($"The {role} '{tensorName}'{(where is null ? "" : $" in '{where}'")} is not finite: {nanCount:N0} NaN and {infinityCount:N0} infinite of {total:N0} values.")
    {
        Role = role;
        TensorName = tensorName;
        NaNCount = nanCount;
        InfinityCount = infinityCount;
    }
}
