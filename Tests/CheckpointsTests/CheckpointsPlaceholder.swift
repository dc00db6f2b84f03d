import XCTest
@testable import Checkpoints
