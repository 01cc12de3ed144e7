namespace DaRcot.Rec.Conditioning;

/// <summary>
/// A place inside a backbone where a second pass can be conditioned: a name, the feature's downscale factor
/// relative to the (padded) input (1, 2, 4, 8), and the feature's channel count there.
/// </summary>
/// <param name="Name">Stable identifier, e.g. <c>"dec_1_8"</c>; used as the key of embeddings and injector modules.</param>
/// <param name="Downscale">Input size divided by feature size: 1, 2, 4 or 8.</param>
/// <param name="Channels">Channels of the feature tensor at this point.</param>
public sealed record ConditionPoint(string Name, int Downscale, long Channels);
