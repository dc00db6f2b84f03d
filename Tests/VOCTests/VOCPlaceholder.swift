import XCTest
@testable import VOC
